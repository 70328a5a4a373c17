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
