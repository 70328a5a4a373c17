param name string
param location string
param tags object
@description('Name of the secret that holds the token encryption key.')
param secretName string
@secure()
@description('64 hex characters (32 random bytes): openssl rand -hex 32.')
param encryptionKey string
@description('Private network: reached through a private endpoint; from outside only from adminClientIp.')
param privateNetwork bool = false
param adminClientIp string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    // RBAC mode: the app reads the secret through the "Key Vault Secrets User" role, not access policies.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    networkAcls: privateNetwork
      ? { defaultAction: 'Deny', bypass: 'AzureServices', ipRules: empty(adminClientIp) ? [] : [ { value: adminClientIp } ] }
      : { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

@secure()
@description('The upstream OpenID client secret, kept in the vault and referenced from app settings; empty for none.')
param oidcClientSecret string = ''

resource clientSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(oidcClientSecret)) {
  parent: vault
  name: 'oidc-client-secret'
  properties: { value: oidcClientSecret }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretName
  properties: {
    value: encryptionKey
    contentType: 'hex; AES-256-GCM key for upstream refresh tokens'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
output oidcClientSecretName string = 'oidc-client-secret'
