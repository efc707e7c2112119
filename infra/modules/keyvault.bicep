// Key Vault for the app's secrets. RBAC authorisation (no access policies), soft delete and purge protection,
// so a deleted secret - the contact hash key above all - can be recovered and cannot be destroyed early.

param name string
param location string
param tags object = {}

@secure()
@description('Standard Webhooks secret(s) of the admin-center webhook, `whsec_<base64>`, space-separated when rotating.')
param adminCenterWebhookSecret string

@secure()
@description('Key of the HMAC that replaces external contact addresses. Changing it orphans every stored hash.')
param contactHashKey string

@secure()
@description('Client secret of the Graph app registration; empty unless main.bicep stores one (storeGraphClientSecret), and then no secret is created.')
param graphClientSecret string = ''

// Secret names the app settings refer to (`@Microsoft.KeyVault(VaultName=...;SecretName=...)`).
var webhookSecretName = 'admin-center-webhook-secret'
var contactHashKeySecretName = 'contact-hash-key'
var graphClientSecretName = 'graph-client-secret'

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' = {
  // checkov:skip=CKV_AZURE_109: the Flex Consumption app resolves Key Vault references over the public endpoint (no VNet in this template); reads need an Entra token and Key Vault Secrets User
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: public network access stays on, access is by RBAC only
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource webhookSecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = {
  // checkov:skip=CKV_AZURE_41: the admin center holds the same secret; it is rotated by adding a second one (space-separated), never by a date, and an expired secret would silently stop every webhook
  parent: vault
  name: webhookSecretName
  properties: {
    value: adminCenterWebhookSecret
    contentType: 'text/plain; Standard Webhooks secret(s)'
  }
}

resource contactHashKeySecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = {
  // checkov:skip=CKV_AZURE_41: the key must never expire: stored contact hashes are only comparable while it is unchanged
  parent: vault
  name: contactHashKeySecretName
  properties: {
    value: contactHashKey
    contentType: 'text/plain; HMAC-SHA256 key'
  }
}

resource graphSecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = if (!empty(graphClientSecret)) {
  // checkov:skip=CKV_AZURE_114: false positive: checkov does not read the properties of a conditional (`if`) resource; contentType is set below, and tests/infra asserts it on every secret
  // checkov:skip=CKV_AZURE_41: the expiry lives on the app registration's credential; a second, earlier date here would only add an outage
  parent: vault
  name: graphClientSecretName
  properties: {
    value: graphClientSecret
    contentType: 'text/plain; Entra client secret'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
output webhookSecretName string = webhookSecretName
output contactHashKeySecretName string = contactHashKeySecretName
output graphClientSecretName string = graphClientSecretName
