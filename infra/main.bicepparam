// For `az deployment group create -g <group> -f infra/main.bicep -p infra/main.bicepparam`:
// the values come from the environment, so no secret is written into the repository.
using 'main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'neotoma')
param encryptionKey = readEnvironmentVariable('MCP_TOKEN_ENCRYPTION_KEY')
param oidcPreset = readEnvironmentVariable('OIDC_PRESET', 'entra')
param oidcIssuer = readEnvironmentVariable('OIDC_ISSUER')
param oidcClientId = readEnvironmentVariable('OIDC_CLIENT_ID', '')
param oidcClientSecret = readEnvironmentVariable('OIDC_CLIENT_SECRET', '')
param apiBase = readEnvironmentVariable('API_BASE', '')
param databaseTier = readEnvironmentVariable('DATABASE_TIER', 'burstable')
param adminPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID')
param adminPrincipalName = readEnvironmentVariable('POSTGRES_ADMIN_NAME')
param adminPrincipalType = readEnvironmentVariable('POSTGRES_ADMIN_TYPE', 'User')
param adminClientIp = readEnvironmentVariable('ADMIN_CLIENT_IP', '')
param vnetEnabled = bool(readEnvironmentVariable('VNET_ENABLED', 'false'))
