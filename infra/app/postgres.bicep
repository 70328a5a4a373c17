param name string
param location string
param tags object
param databaseName string

@allowed(['burstable', 'generalpurpose'])
@description('burstable: Standard_B1ms, no pooler. generalpurpose: Standard_D2ds_v5 with the built-in PgBouncer on port 6432.')
param tier string

@description('Object id of the PostgreSQL Entra administrator: the deployer, or an admin group. Never the app.')
param adminPrincipalId string
@description('Its name as Entra knows it (a user principal name, or the group\'s display name).')
param adminPrincipalName string
@allowed(['User', 'Group', 'ServicePrincipal'])
param adminPrincipalType string

@description('A client IP address admitted to the server (the deployer\'s, for the admin commands); empty for none.')
param adminClientIp string = ''

@description('Server connections the built-in PgBouncer keeps per user and database (generalpurpose only).')
param poolerServerConnections int

@description('Private network: the app comes through a private endpoint, so Azure services are not admitted; adminClientIp still is.')
param privateNetwork bool = false

var sku = tier == 'burstable'
  ? { name: 'Standard_B1ms', tier: 'Burstable' }
  : { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' }

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: sku
  properties: {
    version: '16'
    storage: { storageSizeGB: 32 }
    backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
    // Entra authentication only: the app signs in with its managed identity, no password anywhere.
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: subscription().tenantId
    }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

resource allowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (!privateNetwork) {
  parent: server
  name: 'AllowAzureServices'
  properties: { startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
}

resource allowAdmin 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (!empty(adminClientIp)) {
  parent: server
  name: 'AllowAdminClient'
  properties: { startIpAddress: adminClientIp, endIpAddress: adminClientIp }
  dependsOn: [ allowAzure ]
}

// The extensions the migrations create must be allow-listed on Flexible Server: pg_trgm and
// btree_gin, the index behind retrieve_entities' search (0015_entity_search.sql; the post-provision
// hook creates them as the administrator). Then the built-in PgBouncer (General Purpose and Memory
// Optimized only), in transaction mode. One at a time: the server takes one change of settings at once.
var serverSettings = concat(
  [
    { name: 'azure.extensions', value: 'BTREE_GIN,PG_TRGM' }
  ],
  tier == 'generalpurpose'
    ? [
        { name: 'pgbouncer.enabled', value: 'true' }
        { name: 'pgbouncer.pool_mode', value: 'TRANSACTION' }
        { name: 'pgbouncer.default_pool_size', value: string(poolerServerConnections) }
      ]
    : []
)

@batchSize(1)
resource settings 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = [for setting in serverSettings: {
  parent: server
  name: setting.name
  properties: { value: setting.value, source: 'user-override' }
  dependsOn: [ database ]
}]

// The administrator is a person or an admin group: it creates the app's own role after
// provisioning (infra/hooks/postprovision.sh), which may create its tables in the database and nothing else.
resource admin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: adminPrincipalId
  properties: {
    principalType: adminPrincipalType
    principalName: adminPrincipalName
    tenantId: subscription().tenantId
  }
  dependsOn: [ database, allowAzure, settings ]
}

output name string = server.name
output id string = server.id
output host string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
