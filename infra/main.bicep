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

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var name = '${environmentName}-${take(token, 6)}'
var tags = { 'azd-env-name': environmentName, app: 'neotoma' }
var secretName = 'mcp-token-encryption-key'
var deploymentContainerName = 'app-package'

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  params: { name: name, location: location, tags: tags }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  params: {
    name: take('st${replace(environmentName, '-', '')}${token}', 24)
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
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

module postgres 'app/postgres.bicep' = {
  name: 'postgres'
  params: {
    name: '${name}-pg'
    location: location
    tags: tags
    databaseName: 'neotoma'
    appPrincipalId: functionApp.outputs.principalId
    appPrincipalName: functionApp.outputs.name
  }
}

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
      DATABASE_CONNECTION_STRING: 'Host=${postgres.outputs.host};Database=${postgres.outputs.databaseName};Username=${functionApp.outputs.name};Ssl Mode=Require'
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
