// Log Analytics and Application Insights with local (key) authentication off: telemetry is accepted only
// from Entra identities holding Monitoring Metrics Publisher, so a leaked connection string cannot write.

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

@description('Days Log Analytics keeps logs. The app logs IDs and counts, never content.')
@minValue(30)
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-07-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = applicationInsights.name
output applicationInsightsId string = applicationInsights.id
output connectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsName string = logAnalytics.name
