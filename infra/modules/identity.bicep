// The app's one identity: storage, Key Vault references, telemetry and (with GRAPH_AUTH=managed-identity) the
// federated credential of the Graph app registration all trust it. User-assigned so that role assignments
// exist before the app starts and survive re-creating the app.

param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
