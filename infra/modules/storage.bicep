// The one storage account: the Functions host's own state, the app's tables and queues, the per-user backups
// and the Flex Consumption deployment package. Reached only with Entra ID (shared keys are off).

@description('Storage account name (3-24 lower-case letters and digits).')
param name string

param location string
param tags object = {}

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Days a deleted blob or container stays recoverable. Part of the 30-day backup deadline.')
@minValue(1)
@maxValue(7)
param softDeleteRetentionDays int = 7

@description('Age in days after which a backup blob is deleted. Age + soft delete + one day of policy lag < 30.')
@minValue(1)
@maxValue(21)
param backupRetentionDays int = 21

// Names are fixed by the storage layout in CONTRIBUTING.md. The app also creates them on first use; declaring
// them here makes them exist before the first trigger fires and makes a typo visible in review.
var tableNames = [
  'consents'
  'optouts'
  'webhookreceipts'
  'purges'
  'audit'
  'slices'
  'contacts'
  'cursors'
  'introductions'
]
// Each queue-triggered function moves a message to `<queue>-poison` after maxDequeueCount (host.json).
var queueNames = [
  'ingest'
  'ingest-poison'
  'purges'
  'purges-poison'
]
var backupsContainerName = 'backups'

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' = {
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app reaches storage over the public endpoint; shared keys are off, so every request needs an Entra token and an RBAC role
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: no VNet in this template, access is by Entra ID and RBAC only
  // checkov:skip=CKV_AZURE_206: locally redundant on purpose: personal data stays in one region, and what is lost can be re-ingested from Graph (slices, contacts) or is a 21-day safety copy (backups)
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-09-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    // Versions and change feed would keep copies of purged backups beyond the lifecycle rule's reach.
    isVersioningEnabled: false
    changeFeed: {
      enabled: false
    }
  }
}

resource backupsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' = {
  parent: blobService
  name: backupsContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2026-09-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2026-09-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2026-09-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2026-09-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

// The purge deletes a person's backups itself; this rule is the backstop that bounds every backup's life:
// deleted at `backupRetentionDays`, then kept `softDeleteRetentionDays` in soft delete, and the policy runs
// about once a day, so a backup is gone for good within 21 + 1 + 7 = 29 days.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2026-09-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-old-backups'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${backupsContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: backupRetentionDays
                }
              }
              snapshot: {
                delete: {
                  daysAfterCreationGreaterThan: backupRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    backupsContainer
  ]
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
output backupsContainerName string = backupsContainer.name
output deploymentContainerName string = deploymentContainer.name
