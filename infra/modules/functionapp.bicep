// The Function App on Flex Consumption (Python 3.11) with its user-assigned identity. Every app setting the
// code reads (functions/settings.py SETTING_NAMES) is set here; tests/infra checks both directions.

param name string
param planName string
param location string
param tags object = {}

@description('Resource ID of the user-assigned identity the app runs as.')
param identityId string
@description('Client ID of that identity (storage, telemetry).')
param identityClientId string

param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
@description('Table endpoints of the data shards beyond the app\'s own account (shard 1 first); empty for none.')
param dataShardTableEndpoints array = []
param deploymentContainerName string

param applicationInsightsConnectionString string
param keyVaultName string
param webhookSecretName string
param contactHashKeySecretName string
@description('Key Vault secret holding the Graph client secret; empty when none is stored, and then no reference is emitted.')
param graphClientSecretName string

param apiAudience string
param authIssuer string
param authJwksUrl string
param graphBaseUrl string
@allowed([
  'managed-identity'
  'client-secret'
])
param graphAuth string
param graphClientId string
param ingestionSchedule string
param maintenanceSchedule string
param backupSchedule string
param legacyRelationshipAnalyticsExpiresAt string
param legacyWhoKnowsWhomExpiresAt string
@allowed([
  'purge'
  'retain'
])
param groupOptOutExistingData string
param consoleClientId string
param consoleApiScope string
@description('Microsoft Graph change notifications: on or off (subscriptions are created only when on).')
@allowed([
  'on'
  'off'
])
param graphNotifications string
@description('Six-field NCRONTAB schedule of the timer that renews and recreates Graph subscriptions (UTC).')
param subscriptionSchedule string
// Graph's limit for Outlook messages and events is 10080 minutes (functions/settings.py MAX_SUBSCRIPTION_MINUTES).
@minValue(1)
@maxValue(10080)
param graphSubscriptionMinutes int
@minValue(1)
@maxValue(10080)
param graphSubscriptionRenewMinutes int
@minValue(0)
@maxValue(600)
param refreshCoalesceSeconds int

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100
// 512 MB is refused by some API versions of sites; the two sizes every version accepts.
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

var keyVaultReference = '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName='
// Where Graph posts change notifications ({base}/graph/notifications) and lifecycle events
// ({base}/graph/lifecycle): the site's real default host name, which ARM knows only once the site exists (a
// Flex Consumption app may get a unique one, not always <name>.azurewebsites.net). That is why the app settings
// are a `config` child resource below and not siteConfig.appSettings, which cannot refer to its own site.
var graphNotificationUrl = 'https://${app.properties.defaultHostName}/api'

// Every app setting, as name → value (all strings). On Flex Consumption FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION must not be set: the runtime comes from functionAppConfig.
var appSettings = {
  // Identity-based storage for the host and the app; the connection-string `AzureWebJobsStorage` is
  // for local runs only (shared keys are off on the account).
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // More accounts for the per-user tables, reached with the same identity (modules/datashard.bicep).
  DATA_SHARDS: join(dataShardTableEndpoints, ',')
  // Telemetry is sent with the managed identity (local auth is off on Application Insights).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  ADMIN_CENTER_WEBHOOK_SECRET: '${keyVaultReference}${webhookSecretName})'
  CONTACT_HASH_KEY: '${keyVaultReference}${contactHashKeySecretName})'
  AUTH_JWKS_URL: authJwksUrl
  AUTH_AUDIENCE: apiAudience
  AUTH_ISSUER: authIssuer
  GRAPH_BASE_URL: graphBaseUrl
  GRAPH_AUTH: graphAuth
  GRAPH_CLIENT_ID: graphClientId
  // A reference only to a secret that exists (main.bicep passes a name only when it stores one): a reference to
  // a missing secret would hand the app the literal reference text instead of failing clearly.
  GRAPH_CLIENT_SECRET: empty(graphClientSecretName) ? '' : '${keyVaultReference}${graphClientSecretName})'
  INGESTION_SCHEDULE: ingestionSchedule
  MAINTENANCE_SCHEDULE: maintenanceSchedule
  BACKUP_SCHEDULE: backupSchedule
  LEGACY_RELATIONSHIP_ANALYTICS_EXPIRES_AT: legacyRelationshipAnalyticsExpiresAt
  LEGACY_WHO_KNOWS_WHOM_EXPIRES_AT: legacyWhoKnowsWhomExpiresAt
  GROUP_OPTOUT_EXISTING_DATA: groupOptOutExistingData
  CONSOLE_CLIENT_ID: consoleClientId
  CONSOLE_API_SCOPE: consoleApiScope
  // Read by the C library, not the app: at most two malloc arenas instead of one per thread that allocated.
  // The ingestion worker's RSS grew about 13 KiB per window in per-thread arenas, not Python objects; with
  // two it starts lower and grows half as much (docs/operations.md, ingestion at tenant scale).
  MALLOC_ARENA_MAX: '2'
  GRAPH_NOTIFICATIONS: graphNotifications
  // Set whether notifications are on or off, so that turning them on is one setting.
  GRAPH_NOTIFICATION_URL: graphNotificationUrl
  // Used as %SUBSCRIPTION_SCHEDULE% by a timer trigger: without it the host refuses to start.
  SUBSCRIPTION_SCHEDULE: subscriptionSchedule
  GRAPH_SUBSCRIPTION_MINUTES: string(graphSubscriptionMinutes)
  GRAPH_SUBSCRIPTION_RENEW_MINUTES: string(graphSubscriptionRenewMinutes)
  REFRESH_COALESCE_SECONDS: string(refreshCoalesceSeconds)
}

resource plan 'Microsoft.Web/serverfarms@2025-05-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy exists only in some regions and is fixed when the plan is created; the app keeps no state on instances, and queued work waits in storage until an instance runs it
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2025-05-01' = {
  // checkov:skip=CKV_AZURE_17: callers authenticate with Entra bearer tokens or webhook signatures; client certificates are not part of either contract
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero per invocation and keeps no state on instances; an always-ready instance would shorten cold starts at a constant cost, not add failover
  // checkov:skip=CKV_AZURE_213: App Service health check rotates a fixed pool of instances; Flex Consumption allocates instances per invocation, so it does not apply (GET /api/health is there for external probes)
  // checkov:skip=CKV_AZURE_78: Flex Consumption has no FTP endpoint and ARM rejects siteConfig.ftpsState on Flex sites (BadRequest), so the property this check wants cannot be sent; basic-auth publishing is closed by the scm policy below
  // checkov:skip=CKV_AZURE_222: the API is called by Dynamics 365, the Microsoft 365 admin center and Microsoft Graph change notifications over the internet, so the endpoint is public; every data route authenticates (a bearer token, a webhook signature, or a notification's per-subscription clientState; only /api/health, /api/openapi.json and the console's static files need none)
  name: name
  location: location
  // azd finds the app to deploy to by this tag (service `api` in azure.yaml).
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    // Key Vault references resolve with this identity; without it the platform looks for a system identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      // No appSettings here: they are the `appSettingsConfig` child below (one place, the whole set).
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Every app setting, in one PUT that replaces the whole set (as siteConfig.appSettings would). A child resource
// because GRAPH_NOTIFICATION_URL needs the site's default host name; ARM applies it once the site exists.
// Azure's own Flex Consumption templates set app settings this way.
//
// checkov reads every sites/config resource as the `web` configuration (it does not look at the name), so its
// site-configuration checks land on this `appsettings` body, which holds app setting names and values and
// nothing else. Each skip below names what the check inspects and where that is decided instead.
resource appSettingsConfig 'Microsoft.Web/sites/config@2025-05-01' = {
  // checkov:skip=CKV_AZURE_13: App Service Authentication is not this body's to set (app settings only); callers authenticate with Entra bearer tokens the app validates itself, webhook signatures or a Graph subscription's clientState
  // checkov:skip=CKV_AZURE_63: HTTP logging (httpLoggingEnabled) is a `web` configuration property, not an app setting; the app logs requests to Application Insights with its managed identity
  // checkov:skip=CKV_AZURE_65: detailed error pages (detailedErrorLoggingEnabled) are a `web` configuration property, not an app setting; the app logs its errors to Application Insights and answers fixed sentences
  // checkov:skip=CKV_AZURE_66: failed request tracing (requestTracingEnabled) is a `web` configuration property, not an app setting; failed invocations are recorded in Application Insights
  // checkov:skip=CKV_AZURE_80: the .NET Framework version does not apply: the app is Python 3.11, set in the site's functionAppConfig, and this body holds app settings only
  // checkov:skip=CKV_AZURE_88: Azure Files mounts (azureStorageAccounts) are not app settings, and the app keeps no files on instances; it reaches storage through its SDKs with the managed identity
  // checkov:skip=CKV_AZURE_222: public network access is a property of the site, where it is skipped with its reason (the endpoint is public by design); this body holds app settings only
  parent: app
  name: 'appsettings'
  properties: appSettings
}

// Deployment goes through Entra ID (azd uses the publish API with a token); basic-auth publishing is off.
// Flex Consumption has no FTP endpoint, so `scm` is the only basic-publishing policy there is to close.
resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-05-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = app.name
output id string = app.id
output defaultHostName string = app.properties.defaultHostName
output graphNotificationUrl string = graphNotificationUrl
output planName string = plan.name
