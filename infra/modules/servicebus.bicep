// Service Bus namespace and the one topic every event goes through. Subscriptions and their
// SQL filters come from ../generated/messaging.bicep (rendered from contracts/).

@description('Service Bus namespace name.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to the namespace.')
param tags object = {}

@description('Namespace tier; topics need Standard or Premium.')
@allowed([
  'Standard'
  'Premium'
])
param sku string = 'Standard'

@description('Topic carrying every factory event.')
param topicName string

@description('Window in which a re-published MessageId (the event id) is dropped.')
param duplicateDetectionWindow string = 'PT10M'

@description('Default time-to-live of a message on the topic.')
param messageTimeToLive string = 'P14D'

@description('Principal id of the function app identity (granted Data Sender and Data Receiver).')
param principalId string

// Azure Service Bus Data Sender, Azure Service Bus Data Receiver
var dataRoleIds = [
  '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
]

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    tier: sku
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: topicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    supportOrdering: false
  }
}

resource dataRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in dataRoleIds: {
  name: guid(namespace.id, principalId, roleId)
  scope: namespace
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
  }
}]

output namespaceName string = namespace.name
output topicName string = topic.name
// serviceBusEndpoint is https://<name>.servicebus.<cloud suffix>:443/ ; the host wants the bare name.
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
