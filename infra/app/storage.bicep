@description('Storage account name: 3-24 lower-case letters and digits.')
param name string
param location string
param tags object
@description('Blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string
@description('Private network: reached through private endpoints; from outside only from adminClientIp (azd deploy uploads from there).')
param privateNetwork bool = false
param adminClientIp string = ''

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    // Identity-based access only: AzureWebJobsStorage uses the app's managed identity, no keys.
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    networkAcls: privateNetwork
      ? { defaultAction: 'Deny', bypass: 'AzureServices', ipRules: empty(adminClientIp) ? [] : [ { value: adminClientIp, action: 'Allow' } ] }
      : { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deployments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainerName
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
