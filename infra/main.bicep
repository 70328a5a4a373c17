// Neotoma on Azure: a Flex Consumption (FC1) Linux function app (.NET 10 isolated) with a
// system-assigned identity that reaches storage, Key Vault and PostgreSQL without secrets.
// Local modules only (registry modules need the network).
targetScope = 'resourceGroup'

@minLength(3)
@maxLength(17)
@description('Environment name; resource names derive from it (azd sets AZURE_ENV_NAME).')
param environmentName string

param location string = resourceGroup().location

@secure()
@description('The token encryption key, 64 hex characters: openssl rand -hex 32. Stored in Key Vault.')
param encryptionKey string

@allowed(['oidc', 'entra', 'supabase'])
param oidcPreset string = 'entra'

@description('Issuer URL of the upstream OpenID provider, e.g. https://login.microsoftonline.com/<tenant>/v2.0.')
param oidcIssuer string

@description('Neotoma\'s client id at the provider; empty to register dynamically.')
param oidcClientId string = ''

@secure()
param oidcClientSecret string = ''

@description('Public base URL, when a custom domain fronts the app; empty for https://<app>.azurewebsites.net.')
param apiBase string = ''

@allowed(['burstable', 'generalpurpose'])
@description('burstable (cheapest): Standard_B1ms, no pooler, instances capped so every pool fits max_connections. generalpurpose: Standard_D2ds_v5 with the built-in PgBouncer (transaction mode) for requests.')
param databaseTier string = 'burstable'

@minValue(1)
@maxValue(1000)
@description('Instances the app may scale out to; capped by what the database tier can serve (see docs/azure-scale-out.md).')
param maximumInstanceCount int = 40

@description('Object id of the operator (you, or an admin group): PostgreSQL Entra administrator and Key Vault Secrets Officer. azd fills it with your own id.')
param adminPrincipalId string

@description('The operator\'s name in Entra: your user principal name, or the group\'s display name.')
param adminPrincipalName string

@allowed(['User', 'Group', 'ServicePrincipal'])
param adminPrincipalType string = 'User'

@description('Your public IP address, admitted to PostgreSQL for the admin commands (the post-provision hook, doctor, rotate-key); empty for none.')
param adminClientIp string = ''

@description('Private networking: VNet integration for the app, private endpoints for storage, Key Vault and PostgreSQL, and public access off for all three except from adminClientIp.')
param vnetEnabled bool = false

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var name = '${environmentName}-${take(token, 6)}'
var tags = { 'azd-env-name': environmentName, app: 'neotoma' }
var secretName = 'mcp-token-encryption-key'
var deploymentContainerName = 'app-package'

// The connection budget (docs/azure-scale-out.md). Each instance holds at most `requestPool` pooled
// connections plus one for the revocation listener; while it migrates at start-up it needs 3
// (the advisory lock's session, DbUp's, the listener). 10 connections stay free for the operator.
var serverMaxConnections = databaseTier == 'burstable' ? 50 : 859
var operatorReserve = 10
var budget = serverMaxConnections - operatorReserve
var poolerServerConnections = 50
var directPerInstance = 3
var instances = databaseTier == 'burstable'
  ? min(maximumInstanceCount, budget / (directPerInstance + 1))
  : min(maximumInstanceCount, (budget - poolerServerConnections) / directPerInstance)
var requestPool = databaseTier == 'burstable' ? max(budget / instances - 1, directPerInstance) : 40

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  params: { name: name, location: location, tags: tags }
}

module network 'app/network.bicep' = if (vnetEnabled) {
  name: 'network'
  params: { name: name, location: location, tags: tags }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  params: {
    name: take('st${replace(environmentName, '-', '')}${token}', 24)
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    privateNetwork: vnetEnabled
    adminClientIp: adminClientIp
  }
}

module vault 'app/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: take('kv-${replace(environmentName, '_', '-')}-${token}', 24)
    location: location
    tags: tags
    secretName: secretName
    encryptionKey: encryptionKey
    oidcClientSecret: oidcClientSecret
    privateNetwork: vnetEnabled
    adminClientIp: adminClientIp
  }
}

module functionApp 'app/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: '${name}-func'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${deploymentContainerName}'
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: instances
    subnetId: vnetEnabled ? network!.outputs.appSubnetId : ''
  }
}

module access 'app/role-assignments.bicep' = {
  name: 'role-assignments'
  params: {
    principalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: vault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module adminAccess 'app/admin-access.bicep' = {
  name: 'admin-access'
  params: {
    principalId: adminPrincipalId
    principalType: adminPrincipalType
    keyVaultName: vault.outputs.name
  }
}

module postgres 'app/postgres.bicep' = {
  name: 'postgres'
  params: {
    name: '${name}-pg'
    location: location
    tags: tags
    databaseName: 'neotoma'
    tier: databaseTier
    adminPrincipalId: adminPrincipalId
    adminPrincipalName: adminPrincipalName
    adminPrincipalType: adminPrincipalType
    adminClientIp: adminClientIp
    poolerServerConnections: poolerServerConnections
    privateNetwork: vnetEnabled
  }
}

// The private link groups the app reaches privately: storage's three services, the vault, the server.
var endpointGroups = vnetEnabled ? ['blob', 'queue', 'table', 'vault', 'postgresqlServer'] : []

module endpoints 'app/private-endpoint.bicep' = [for group in endpointGroups: {
  name: 'endpoint-${group}'
  params: {
    name: '${name}-pe-${group}'
    location: location
    tags: tags
    subnetId: network!.outputs.endpointSubnetId
    targetId: group == 'vault' ? vault.outputs.id : (group == 'postgresqlServer' ? postgres.outputs.id : storage.outputs.id)
    groupId: group
    zoneId: group == 'blob' ? network!.outputs.blobZoneId
      : (group == 'queue' ? network!.outputs.queueZoneId
      : (group == 'table' ? network!.outputs.tableZoneId
      : (group == 'vault' ? network!.outputs.vaultZoneId : network!.outputs.postgresZoneId)))
  }
}]

var databaseBase = 'Host=${postgres.outputs.host};Database=${postgres.outputs.databaseName};Username=${functionApp.outputs.name};Ssl Mode=Require'

var publicBaseUrl = empty(apiBase) ? 'https://${functionApp.outputs.defaultHostName}' : apiBase

module settings 'app/appsettings.bicep' = {
  name: 'appsettings'
  params: {
    appName: functionApp.outputs.name
    settings: {
      AzureWebJobsStorage__accountName: storage.outputs.name
      AzureWebJobsStorage__credential: 'managedidentity'
      APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
      API_BASE: publicBaseUrl
      KEY_VAULT_URI: vault.outputs.uri
      KEY_VAULT_SECRET_NAME: secretName
      // generalpurpose: requests through PgBouncer (6432, no protocol-level prepares), migrations and LISTEN direct (5432).
      DATABASE_CONNECTION_STRING: databaseTier == 'burstable'
        ? '${databaseBase};Port=5432;Maximum Pool Size=${requestPool}'
        : '${databaseBase};Port=6432;Maximum Pool Size=${requestPool};Max Auto Prepare=0;No Reset On Close=true'
      DATABASE_DIRECT_CONNECTION_STRING: databaseTier == 'burstable' ? '' : '${databaseBase};Port=5432;Maximum Pool Size=${directPerInstance}'
      DATABASE_AUTH: 'entra'
      OIDC_PRESET: oidcPreset
      OIDC_ISSUER: oidcIssuer
      OIDC_CLIENT_ID: oidcClientId
      OIDC_CLIENT_SECRET: empty(oidcClientSecret) ? '' : '@Microsoft.KeyVault(VaultName=${vault.outputs.name};SecretName=${vault.outputs.oidcClientSecretName})'
      // Azure's front end appends the client's address to X-Forwarded-For.
      TRUSTED_PROXY_COUNT: '1'
    }
  }
  dependsOn: [ access ]
}

output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output MCP_URL string = '${publicBaseUrl}/mcp'
output OAUTH_CALLBACK_URL string = '${publicBaseUrl}/api/mcp/oauth/callback'
output KEY_VAULT_URI string = vault.outputs.uri
output KEY_VAULT_NAME string = vault.outputs.name
output POSTGRES_HOST string = postgres.outputs.host
output POSTGRES_DATABASE string = postgres.outputs.databaseName
output MAXIMUM_INSTANCE_COUNT int = instances
output REQUEST_POOL_SIZE int = requestPool
