// m365-consent-insights in Azure: `azd up` deploys this (subscription scope: it creates the resource group).
// Resources are declared directly, not through public registry modules, so that the checks in tests/infra
// (pycep-parser structure tests and checkov) see every one of them.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the azd environment; names the resource group and seeds unique resource names.')
param environmentName string

// The regions that offer Flex Consumption (`az functionapp list-flexconsumption-locations`), so that another
// region fails when the parameters are read, not half-way through a deployment when the plan is created. azd
// offers exactly these when it asks for a location.
@description('Azure region for every resource (one that offers Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
param location string

@description('`aud` of accepted bearer tokens: the client ID of the API app registration (v2 tokens).')
param apiAudience string

@description('Client ID of the console\'s SPA app registration (redirect URI https://<app>.azurewebsites.net/api/console/); empty: the console shows that sign-in is not configured.')
param consoleClientId string = ''

@description('Scope the console asks for; empty: <apiAudience>/.default.')
param consoleApiScope string = ''

@description('How the app authenticates to Microsoft Graph in customer tenants: managed-identity (federated credential on the Graph app registration, no secret) or client-secret (a secret kept in Key Vault).')
@allowed([
  'managed-identity'
  'client-secret'
])
param graphAuth string = 'managed-identity'

@description('Client ID of the multi-tenant Graph app registration that each customer tenant admin-consents to.')
param graphClientId string

@secure()
@description('Client secret of the Graph app registration; required only when graphAuth is client-secret.')
param graphClientSecret string = ''

@secure()
@minLength(32)
@description('Standard Webhooks secret(s) shared with the Microsoft 365 admin center, `whsec_<base64>`.')
param adminCenterWebhookSecret string

@secure()
@minLength(32)
@description('HMAC key for external contact addresses. Keep it stable: changing it orphans every stored hash.')
param contactHashKey string

@description('Microsoft Graph endpoint (a national cloud has its own).')
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'

@description('Entra ID login endpoint for token validation (a national cloud has its own).')
param authorityHost string = 'https://login.microsoftonline.com'

@description('Six-field NCRONTAB schedules of the timer triggers (UTC).')
param ingestionSchedule string = '0 0 2 * * *'
param maintenanceSchedule string = '0 */15 * * * *'
param backupSchedule string = '0 30 3 * * *'

@description('Expiry of the two legacy consent forms (ISO 8601 with a zone).')
param legacyRelationshipAnalyticsExpiresAt string = '2022-09-30T23:59:59Z'
param legacyWhoKnowsWhomExpiresAt string = '2022-07-30T23:59:59Z'

// A deleted vault stays soft-deleted for 90 days under purge protection and keeps its name, so `azd up` after
// `azd down` in the same environment cannot create it again: a suffix gives the new vault a new name.
@description('Appended to the Key Vault name (letters and digits). Set a new value after `azd down` to provision again in the same environment.')
@maxLength(7)
param keyVaultNameSuffix string = ''

@description('What a group opt-out does to data already ingested for its members.')
@allowed([
  'purge'
  'retain'
])
param groupOptOutExistingData string = 'purge'

// Graph change notifications. Graph posts them to GRAPH_NOTIFICATION_URL, which is not a parameter: the function
// app module derives it from the site's default host name (output GRAPH_NOTIFICATION_URL).
@description('Microsoft Graph change notifications: on subscribes to each included user\'s mail and events and refreshes the user when Graph reports a change; off (default) relies on the daily delta run alone.')
@allowed([
  'on'
  'off'
])
param graphNotifications string = 'off'

@description('Six-field NCRONTAB schedule of the timer that renews Graph subscriptions and recreates lost ones (UTC).')
param subscriptionSchedule string = '0 0 */6 * * *'

@description('Lifetime of a Graph subscription in minutes; Graph allows at most 10080 (7 days) for Outlook messages and events.')
@minValue(1)
@maxValue(10080)
param graphSubscriptionMinutes int = 4320

@description('Renew a subscription when less than this many minutes are left; must not exceed graphSubscriptionMinutes (the app refuses to start otherwise).')
@minValue(1)
@maxValue(10080)
param graphSubscriptionRenewMinutes int = 1440

@description('Notifications for one user within this many seconds become one refresh.')
@minValue(0)
@maxValue(600)
param refreshCoalesceSeconds int = 10

@description('Storage accounts that hold the per-user tables (slices, contacts), the app\'s own included: 1 keeps them there; each one more adds an account (a data shard) and spreads users over them. Choose it before the first backfill: a changed count moves users, whose older rows the insights would then miss (purges still find them on every shard).')
@minValue(1)
@maxValue(16)
param dataShardCount int = 1

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-${resourceToken}'
// The one condition for the Graph client secret: the vault stores it and the app refers to it, or neither.
var storeGraphClientSecret = (graphAuth == 'client-secret') && !empty(graphClientSecret)
var keyVaultName = empty(keyVaultNameSuffix) ? 'kv-${resourceToken}' : 'kv-${resourceToken}-${keyVaultNameSuffix}'
var deploymentContainerName = 'app-package-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

// Shard 0 is the app's own account; these are shards 1 to dataShardCount - 1, in the order the app numbers them.
module dataShards 'modules/datashard.bicep' = [
  for shard in range(1, dataShardCount - 1): {
    name: 'datashard-${shard}'
    scope: rg
    params: {
      name: 'st${resourceToken}d${shard}'
      location: location
      tags: tags
      principalId: identity.outputs.principalId
    }
  }
]

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: tags
    adminCenterWebhookSecret: adminCenterWebhookSecret
    contactHashKey: contactHashKey
    graphClientSecret: storeGraphClientSecret ? graphClientSecret : ''
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    dataShardTableEndpoints: [for i in range(0, dataShardCount - 1): dataShards[i].outputs.tableEndpoint]
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultName: keyVault.outputs.name
    webhookSecretName: keyVault.outputs.webhookSecretName
    contactHashKeySecretName: keyVault.outputs.contactHashKeySecretName
    graphClientSecretName: storeGraphClientSecret ? keyVault.outputs.graphClientSecretName : ''
    apiAudience: apiAudience
    authIssuer: '${authorityHost}/{tenantId}/v2.0'
    authJwksUrl: '${authorityHost}/common/discovery/v2.0/keys'
    graphBaseUrl: graphBaseUrl
    graphAuth: graphAuth
    graphClientId: graphClientId
    ingestionSchedule: ingestionSchedule
    maintenanceSchedule: maintenanceSchedule
    backupSchedule: backupSchedule
    legacyRelationshipAnalyticsExpiresAt: legacyRelationshipAnalyticsExpiresAt
    legacyWhoKnowsWhomExpiresAt: legacyWhoKnowsWhomExpiresAt
    groupOptOutExistingData: groupOptOutExistingData
    consoleClientId: consoleClientId
    consoleApiScope: consoleApiScope
    graphNotifications: graphNotifications
    subscriptionSchedule: subscriptionSchedule
    graphSubscriptionMinutes: graphSubscriptionMinutes
    graphSubscriptionRenewMinutes: graphSubscriptionRenewMinutes
    refreshCoalesceSeconds: refreshCoalesceSeconds
  }
  // The app resolves Key Vault references and opens storage at start-up: its roles must exist first.
  dependsOn: [
    rbac
    dataShards
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output API_BASE_URL string = 'https://${functionApp.outputs.defaultHostName}/api'
output GRAPH_NOTIFICATION_URL string = functionApp.outputs.graphNotificationUrl
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output DATA_SHARD_ACCOUNT_NAMES array = [for i in range(0, dataShardCount - 1): dataShards[i].outputs.name]
output BACKUPS_CONTAINER_NAME string = storage.outputs.backupsContainerName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output LOG_ANALYTICS_NAME string = monitoring.outputs.logAnalyticsName
output APP_IDENTITY_NAME string = identity.outputs.name
output APP_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output APP_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
