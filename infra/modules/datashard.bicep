// One more storage account for the per-user tables (slices, contacts): a data shard. The app spreads users over
// its own account and these by a hash of the user (DATA_SHARDS, SPEC "Sharding"), so ingestion's writes are
// spread over several accounts' transaction targets; a purge deletes and verifies zero on every shard.
// Hardened as the app's own account (modules/storage.bicep): Entra ID only, TLS 1.2, no blobs or queues used.

@description('Storage account name (3-24 lower-case letters and digits).')
param name string

param location string
param tags object = {}

@description('Principal (object) ID of the app identity: it gets table data access on this account and nothing else.')
param principalId string

// The per-user tables: the only ones the app places on a shard (functions/adapters/slice_store.py, contact_store.py).
var tableNames = [
  'slices'
  'contacts'
]
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource shard 'Microsoft.Storage/storageAccounts@2026-09-01' = {
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app reaches storage over the public endpoint; shared keys are off, so every request needs an Entra token and an RBAC role
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: no VNet in this template, access is by Entra ID and RBAC only
  // checkov:skip=CKV_AZURE_206: locally redundant on purpose: personal data stays in one region, and what is lost can be re-ingested from Graph
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

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2026-09-01' = {
  parent: shard
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2026-09-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(shard.id, principalId, storageTableDataContributor)
  scope: shard
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = shard.name
output tableEndpoint string = shard.properties.primaryEndpoints.table
