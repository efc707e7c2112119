// The one storage account: the Functions host's own state, the app's tables and queues, the per-user backups
// and the Flex Consumption deployment package. Reached only with Entra ID (shared keys are off).

@description('Storage account name (3-24 lower-case letters and digits).')
param name string

param location string
param tags object = {}

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Days a deleted blob or container stays recoverable. Counts against the 30-day backup deadline: the longer it is, the younger backups are deleted.')
@minValue(1)
@maxValue(7)
param softDeleteRetentionDays int = 7

// The backup deadline, worked out here and nowhere else: a backup must be gone for good within 30 days of being
// written (SPEC, Backups). The rule below acts on blobs more than `backupDeleteAfterDays` days old and counts
// whole days, so a blob is due one day after that at the latest; lifecycle runs start up to a day after a policy
// change and pick up what they miss "in subsequent runs", so two days are budgeted for the run that deletes it;
// then soft delete keeps it `softDeleteRetentionDays` more. tests/infra checks the sum for every allowed value.
var backupDeadlineDays = 30
var wholeDaySlackDays = 1
var lifecycleLagDays = 2
var backupDeleteAfterDays = backupDeadlineDays - (wholeDaySlackDays + lifecycleLagDays + softDeleteRetentionDays)

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
  'requests'
  'accounts'
  'settings'
  'subscriptions'
  'shards'
]
// Each queue-triggered function moves a message to `<queue>-poison` after maxDequeueCount (host.json).
var queueNames = [
  'ingest'
  'ingest-poison'
  'membership'
  'membership-poison'
  'purges'
  'purges-poison'
  'refresh'
  'refresh-poison'
]
var backupsContainerName = 'backups'

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' = {
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app reaches storage over the public endpoint; shared keys are off, so every request needs an Entra token and an RBAC role
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: no VNet in this template, access is by Entra ID and RBAC only
  // checkov:skip=CKV_AZURE_206: locally redundant on purpose: personal data stays in one region, and what is lost can be re-ingested from Graph (slices, contacts) or is a short-lived safety copy (backups)
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

// The purge deletes a person's backups itself; this rule is the backstop that bounds every backup's life (see
// backupDeleteAfterDays). Versions and snapshots are off today; their actions keep the bound if either is ever
// switched on, since a previous version or a snapshot would otherwise outlive its base blob's deletion.
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
                  daysAfterModificationGreaterThan: backupDeleteAfterDays
                }
              }
              version: {
                delete: {
                  daysAfterCreationGreaterThan: backupDeleteAfterDays
                }
              }
              snapshot: {
                delete: {
                  daysAfterCreationGreaterThan: backupDeleteAfterDays
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
