// Decoding (and, for tests and tools, encoding) of Kubernetes protobuf request bodies.
//
// kubectl's typed `create` subcommands POST `application/vnd.kubernetes.protobuf`. Such a body is
// the 4-byte magic `k8s\0` followed by a runtime.Unknown message whose `raw` bytes hold the object
// itself, encoded as the proto2 message generated for its Go type. This module turns that into the
// object's ordinary Kubernetes JSON form, driven by the declarative schema table below.
//
// Presence: Go's generated marshallers always write non-pointer scalar fields (even "" / 0 / false)
// and non-pointer struct fields (even when empty), and write pointer fields, repeated fields and
// maps only when set. The JSON encoder, in turn, drops zero scalars tagged `omitempty` but never
// drops structs. So, to land on the JSON form:
//   - a scalar field present with its zero value is dropped, unless it is marked `keep` (a Go
//     pointer, e.g. `replicas: 0`, or a field without `omitempty`, e.g. `containerPort`);
//   - a message field present on the wire is always kept (an empty one becomes `{}`, which is why
//     `resources: {}` and `status: {}` appear);
//   - a zero metav1.Time (sent as an empty message) becomes `null` (`creationTimestamp: null`);
//   - an absent field is absent.
// Fields marked `inline` are Go embedded structs (`json:",inline"`): their fields are merged into the
// enclosing object.

/** Field types of the schema table. */
export type ProtoFieldType =
  | 'string' | 'int32' | 'int64' | 'bool' | 'bytes'
  | `message:${string}`
  | 'map<string,string>' | 'map<string,bytes>' | 'map<string,quantity>'
  | 'intorstring' // k8s.io/apimachinery/pkg/util/intstr.IntOrString → number or string
  | 'quantity' // k8s.io/apimachinery/pkg/api/resource.Quantity → its string
  | 'time' // meta/v1.Time → RFC 3339 string, null when zero
  | 'json'; // meta/v1.FieldsV1 → its raw bytes parsed as JSON

export interface ProtoField {
  /** JSON field name (the same as the proto field name in Kubernetes' generated protos). */
  name: string;
  type: ProtoFieldType;
  repeated?: true;
  /** Keep a zero scalar (Go pointer or non-`omitempty` field). */
  keep?: true;
  /** Go embedded struct: merge its fields into the enclosing object. */
  inline?: true;
}

export type ProtoMessageSchema = Readonly<Record<number, ProtoField>>;

/**
 * Message name → field number → field. Field numbers, types and pointer-ness come from the
 * Kubernetes 1.32 generated.proto files (core/v1, apps/v1, networking/v1, meta/v1, runtime).
 * Every field of every message reachable from the supported kinds is listed.
 * runtime.TypeMeta is named RuntimeTypeMeta here (meta/v1.TypeMeta numbers its fields differently).
 */
export const protobufSchema: Readonly<Record<string, ProtoMessageSchema>> = {
  // core/v1
  Namespace: {
    1: { name: 'metadata', type: 'message:ObjectMeta' },
    2: { name: 'spec', type: 'message:NamespaceSpec' },
    3: { name: 'status', type: 'message:NamespaceStatus' },
  },
  // apis/meta/v1
  ObjectMeta: {
    1: { name: 'name', type: 'string' },
    2: { name: 'generateName', type: 'string' },
    3: { name: 'namespace', type: 'string' },
    4: { name: 'selfLink', type: 'string' },
    5: { name: 'uid', type: 'string' },
    6: { name: 'resourceVersion', type: 'string' },
    7: { name: 'generation', type: 'int64' },
    8: { name: 'creationTimestamp', type: 'time' },
    9: { name: 'deletionTimestamp', type: 'time' },
    10: { name: 'deletionGracePeriodSeconds', type: 'int64', keep: true },
    11: { name: 'labels', type: 'map<string,string>' },
    12: { name: 'annotations', type: 'map<string,string>' },
    13: { name: 'ownerReferences', type: 'message:OwnerReference', repeated: true },
    14: { name: 'finalizers', type: 'string', repeated: true },
    17: { name: 'managedFields', type: 'message:ManagedFieldsEntry', repeated: true },
  },
  // apis/meta/v1
  OwnerReference: {
    5: { name: 'apiVersion', type: 'string', keep: true },
    1: { name: 'kind', type: 'string', keep: true },
    3: { name: 'name', type: 'string', keep: true },
    4: { name: 'uid', type: 'string', keep: true },
    6: { name: 'controller', type: 'bool', keep: true },
    7: { name: 'blockOwnerDeletion', type: 'bool', keep: true },
  },
  // apis/meta/v1
  ManagedFieldsEntry: {
    1: { name: 'manager', type: 'string' },
    2: { name: 'operation', type: 'string' },
    3: { name: 'apiVersion', type: 'string' },
    4: { name: 'time', type: 'time' },
    6: { name: 'fieldsType', type: 'string' },
    7: { name: 'fieldsV1', type: 'json' },
    8: { name: 'subresource', type: 'string' },
  },
  // core/v1
  NamespaceSpec: {
    1: { name: 'finalizers', type: 'string', repeated: true },
  },
  // core/v1
  NamespaceStatus: {
    1: { name: 'phase', type: 'string' },
    2: { name: 'conditions', type: 'message:NamespaceCondition', repeated: true },
  },
  // core/v1
  NamespaceCondition: {
    1: { name: 'type', type: 'string', keep: true },
    2: { name: 'status', type: 'string', keep: true },
    4: { name: 'lastTransitionTime', type: 'time' },
    5: { name: 'reason', type: 'string' },
    6: { name: 'message', type: 'string' },
  },
  // core/v1
  ConfigMap: {
    1: { name: 'metadata', type: 'message:ObjectMeta' },
    4: { name: 'immutable', type: 'bool', keep: true },
    2: { name: 'data', type: 'map<string,string>' },
    3: { name: 'binaryData', type: 'map<string,bytes>' },
  },
  // core/v1
  Secret: {
    1: { name: 'metadata', type: 'message:ObjectMeta' },
    5: { name: 'immutable', type: 'bool', keep: true },
    2: { name: 'data', type: 'map<string,bytes>' },
    4: { name: 'stringData', type: 'map<string,string>' },
    3: { name: 'type', type: 'string' },
  },
  // core/v1
  ServiceAccount: {
    1: { name: 'metadata', type: 'message:ObjectMeta' },
    2: { name: 'secrets', type: 'message:ObjectReference', repeated: true },
    3: { name: 'imagePullSecrets', type: 'message:LocalObjectReference', repeated: true },
    4: { name: 'automountServiceAccountToken', type: 'bool', keep: true },
  },
  // core/v1
  ObjectReference: {
    1: { name: 'kind', type: 'string' },
    2: { name: 'namespace', type: 'string' },
    3: { name: 'name', type: 'string' },
    4: { name: 'uid', type: 'string' },
    5: { name: 'apiVersion', type: 'string' },
    6: { name: 'resourceVersion', type: 'string' },
    7: { name: 'fieldPath', type: 'string' },
  },
  // core/v1
  LocalObjectReference: {
    1: { name: 'name', type: 'string' },
  },
  // core/v1
  Service: {
    1: { name: 'metadata', type: 'message:ObjectMeta' },
    2: { name: 'spec', type: 'message:ServiceSpec' },
    3: { name: 'status', type: 'message:ServiceStatus' },
  },
  // core/v1
  ServiceSpec: {
    1: { name: 'ports', type: 'message:ServicePort', repeated: true },
    2: { name: 'selector', type: 'map<string,string>' },
    3: { name: 'clusterIP', type: 'string' },
    18: { name: 'clusterIPs', type: 'string', repeated: true },
    4: { name: 'type', type: 'string' },
    5: { name: 'externalIPs', type: 'string', repeated: true },
    7: { name: 'sessionAffinity', type: 'string' },
    8: { name: 'loadBalancerIP', type: 'string' },
    9: { name: 'loadBalancerSourceRanges', type: 'string', repeated: true },
    10: { name: 'externalName', type: 'string' },
    11: { name: 'externalTrafficPolicy', type: 'string' },
    12: { name: 'healthCheckNodePort', type: 'int32' },
    13: { name: 'publishNotReadyAddresses', type: 'bool' },
    14: { name: 'sessionAffinityConfig', type: 'message:SessionAffinityConfig' },
    19: { name: 'ipFamilies', type: 'string', repeated: true },
    17: { name: 'ipFamilyPolicy', type: 'string', keep: true },
    20: { name: 'allocateLoadBalancerNodePorts', type: 'bool', keep: true },
    21: { name: 'loadBalancerClass', type: 'string', keep: true },
    22: { name: 'internalTrafficPolicy', type: 'string', keep: true },
    23: { name: 'trafficDistribution', type: 'string', keep: true },
  },
  // core/v1
  ServicePort: {
    1: { name: 'name', type: 'string' },
    2: { name: 'protocol', type: 'string' },
    6: { name: 'appProtocol', type: 'string', keep: true },
    3: { name: 'port', type: 'int32', keep: true },
    4: { name: 'targetPort', type: 'intorstring' },
    5: { name: 'nodePort', type: 'int32' },
  },
  // core/v1
  SessionAffinityConfig: {
    1: { name: 'clientIP', type: 'message:ClientIPConfig' },
  },
  // core/v1
  ClientIPConfig: {
    1: { name: 'timeoutSeconds', type: 'int32', keep: true },
  },
  // core/v1
  ServiceStatus: {
    1: { name: 'loadBalancer', type: 'message:LoadBalancerStatus' },
    2: { name: 'conditions', type: 'message:Condition', repeated: true },
  },
  // core/v1
  LoadBalancerStatus: {
    1: { name: 'ingress', type: 'message:LoadBalancerIngress', repeated: true },
  },
  // core/v1
  LoadBalancerIngress: {
    1: { name: 'ip', type: 'string' },
    2: { name: 'hostname', type: 'string' },
    3: { name: 'ipMode', type: 'string', keep: true },
    4: { name: 'ports', type: 'message:PortStatus', repeated: true },
  },
  // core/v1
  PortStatus: {
    1: { name: 'port', type: 'int32', keep: true },
    2: { name: 'protocol', type: 'string', keep: true },
    3: { name: 'error', type: 'string', keep: true },
  },
  // apis/meta/v1
  Condition: {
    1: { name: 'type', type: 'string', keep: true },
    2: { name: 'status', type: 'string', keep: true },
    3: { name: 'observedGeneration', type: 'int64' },
    4: { name: 'lastTransitionTime', type: 'time' },
    5: { name: 'reason', type: 'string', keep: true },
    6: { name: 'message', type: 'string', keep: true },
  },
  // apps/v1
  Deployment: {
    1: { name: 'metadata', type: 'message:ObjectMeta' },
    2: { name: 'spec', type: 'message:DeploymentSpec' },
    3: { name: 'status', type: 'message:DeploymentStatus' },
  },
  // apps/v1
  DeploymentSpec: {
    1: { name: 'replicas', type: 'int32', keep: true },
    2: { name: 'selector', type: 'message:LabelSelector' },
    3: { name: 'template', type: 'message:PodTemplateSpec' },
    4: { name: 'strategy', type: 'message:DeploymentStrategy' },
    5: { name: 'minReadySeconds', type: 'int32' },
    6: { name: 'revisionHistoryLimit', type: 'int32', keep: true },
    7: { name: 'paused', type: 'bool' },
    9: { name: 'progressDeadlineSeconds', type: 'int32', keep: true },
  },
  // apis/meta/v1
  LabelSelector: {
    1: { name: 'matchLabels', type: 'map<string,string>' },
    2: { name: 'matchExpressions', type: 'message:LabelSelectorRequirement', repeated: true },
  },
  // apis/meta/v1
  LabelSelectorRequirement: {
    1: { name: 'key', type: 'string', keep: true },
    2: { name: 'operator', type: 'string', keep: true },
    3: { name: 'values', type: 'string', repeated: true },
  },
  // core/v1
  PodTemplateSpec: {
    1: { name: 'metadata', type: 'message:ObjectMeta' },
    2: { name: 'spec', type: 'message:PodSpec' },
  },
  // core/v1
  PodSpec: {
    1: { name: 'volumes', type: 'message:Volume', repeated: true },
    20: { name: 'initContainers', type: 'message:Container', repeated: true },
    2: { name: 'containers', type: 'message:Container', repeated: true },
    34: { name: 'ephemeralContainers', type: 'message:EphemeralContainer', repeated: true },
    3: { name: 'restartPolicy', type: 'string' },
    4: { name: 'terminationGracePeriodSeconds', type: 'int64', keep: true },
    5: { name: 'activeDeadlineSeconds', type: 'int64', keep: true },
    6: { name: 'dnsPolicy', type: 'string' },
    7: { name: 'nodeSelector', type: 'map<string,string>' },
    8: { name: 'serviceAccountName', type: 'string' },
    9: { name: 'serviceAccount', type: 'string' },
    21: { name: 'automountServiceAccountToken', type: 'bool', keep: true },
    10: { name: 'nodeName', type: 'string' },
    11: { name: 'hostNetwork', type: 'bool' },
    12: { name: 'hostPID', type: 'bool' },
    13: { name: 'hostIPC', type: 'bool' },
    27: { name: 'shareProcessNamespace', type: 'bool', keep: true },
    14: { name: 'securityContext', type: 'message:PodSecurityContext' },
    15: { name: 'imagePullSecrets', type: 'message:LocalObjectReference', repeated: true },
    16: { name: 'hostname', type: 'string' },
    17: { name: 'subdomain', type: 'string' },
    18: { name: 'affinity', type: 'message:Affinity' },
    19: { name: 'schedulerName', type: 'string' },
    22: { name: 'tolerations', type: 'message:Toleration', repeated: true },
    23: { name: 'hostAliases', type: 'message:HostAlias', repeated: true },
    24: { name: 'priorityClassName', type: 'string' },
    25: { name: 'priority', type: 'int32', keep: true },
    26: { name: 'dnsConfig', type: 'message:PodDNSConfig' },
    28: { name: 'readinessGates', type: 'message:PodReadinessGate', repeated: true },
    29: { name: 'runtimeClassName', type: 'string', keep: true },
    30: { name: 'enableServiceLinks', type: 'bool', keep: true },
    31: { name: 'preemptionPolicy', type: 'string', keep: true },
    32: { name: 'overhead', type: 'map<string,quantity>' },
    33: { name: 'topologySpreadConstraints', type: 'message:TopologySpreadConstraint', repeated: true },
    35: { name: 'setHostnameAsFQDN', type: 'bool', keep: true },
    36: { name: 'os', type: 'message:PodOS' },
    37: { name: 'hostUsers', type: 'bool', keep: true },
    38: { name: 'schedulingGates', type: 'message:PodSchedulingGate', repeated: true },
    39: { name: 'resourceClaims', type: 'message:PodResourceClaim', repeated: true },
    40: { name: 'resources', type: 'message:ResourceRequirements' },
  },
  // core/v1
  Volume: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'volumeSource', type: 'message:VolumeSource', inline: true },
  },
  // core/v1
  VolumeSource: {
    1: { name: 'hostPath', type: 'message:HostPathVolumeSource' },
    2: { name: 'emptyDir', type: 'message:EmptyDirVolumeSource' },
    3: { name: 'gcePersistentDisk', type: 'message:GCEPersistentDiskVolumeSource' },
    4: { name: 'awsElasticBlockStore', type: 'message:AWSElasticBlockStoreVolumeSource' },
    5: { name: 'gitRepo', type: 'message:GitRepoVolumeSource' },
    6: { name: 'secret', type: 'message:SecretVolumeSource' },
    7: { name: 'nfs', type: 'message:NFSVolumeSource' },
    8: { name: 'iscsi', type: 'message:ISCSIVolumeSource' },
    9: { name: 'glusterfs', type: 'message:GlusterfsVolumeSource' },
    10: { name: 'persistentVolumeClaim', type: 'message:PersistentVolumeClaimVolumeSource' },
    11: { name: 'rbd', type: 'message:RBDVolumeSource' },
    12: { name: 'flexVolume', type: 'message:FlexVolumeSource' },
    13: { name: 'cinder', type: 'message:CinderVolumeSource' },
    14: { name: 'cephfs', type: 'message:CephFSVolumeSource' },
    15: { name: 'flocker', type: 'message:FlockerVolumeSource' },
    16: { name: 'downwardAPI', type: 'message:DownwardAPIVolumeSource' },
    17: { name: 'fc', type: 'message:FCVolumeSource' },
    18: { name: 'azureFile', type: 'message:AzureFileVolumeSource' },
    19: { name: 'configMap', type: 'message:ConfigMapVolumeSource' },
    20: { name: 'vsphereVolume', type: 'message:VsphereVirtualDiskVolumeSource' },
    21: { name: 'quobyte', type: 'message:QuobyteVolumeSource' },
    22: { name: 'azureDisk', type: 'message:AzureDiskVolumeSource' },
    23: { name: 'photonPersistentDisk', type: 'message:PhotonPersistentDiskVolumeSource' },
    26: { name: 'projected', type: 'message:ProjectedVolumeSource' },
    24: { name: 'portworxVolume', type: 'message:PortworxVolumeSource' },
    25: { name: 'scaleIO', type: 'message:ScaleIOVolumeSource' },
    27: { name: 'storageos', type: 'message:StorageOSVolumeSource' },
    28: { name: 'csi', type: 'message:CSIVolumeSource' },
    29: { name: 'ephemeral', type: 'message:EphemeralVolumeSource' },
    30: { name: 'image', type: 'message:ImageVolumeSource' },
  },
  // core/v1
  HostPathVolumeSource: {
    1: { name: 'path', type: 'string', keep: true },
    2: { name: 'type', type: 'string', keep: true },
  },
  // core/v1
  EmptyDirVolumeSource: {
    1: { name: 'medium', type: 'string' },
    2: { name: 'sizeLimit', type: 'quantity' },
  },
  // core/v1
  GCEPersistentDiskVolumeSource: {
    1: { name: 'pdName', type: 'string', keep: true },
    2: { name: 'fsType', type: 'string' },
    3: { name: 'partition', type: 'int32' },
    4: { name: 'readOnly', type: 'bool' },
  },
  // core/v1
  AWSElasticBlockStoreVolumeSource: {
    1: { name: 'volumeID', type: 'string', keep: true },
    2: { name: 'fsType', type: 'string' },
    3: { name: 'partition', type: 'int32' },
    4: { name: 'readOnly', type: 'bool' },
  },
  // core/v1
  GitRepoVolumeSource: {
    1: { name: 'repository', type: 'string', keep: true },
    2: { name: 'revision', type: 'string' },
    3: { name: 'directory', type: 'string' },
  },
  // core/v1
  SecretVolumeSource: {
    1: { name: 'secretName', type: 'string' },
    2: { name: 'items', type: 'message:KeyToPath', repeated: true },
    3: { name: 'defaultMode', type: 'int32', keep: true },
    4: { name: 'optional', type: 'bool', keep: true },
  },
  // core/v1
  KeyToPath: {
    1: { name: 'key', type: 'string', keep: true },
    2: { name: 'path', type: 'string', keep: true },
    3: { name: 'mode', type: 'int32', keep: true },
  },
  // core/v1
  NFSVolumeSource: {
    1: { name: 'server', type: 'string', keep: true },
    2: { name: 'path', type: 'string', keep: true },
    3: { name: 'readOnly', type: 'bool' },
  },
  // core/v1
  ISCSIVolumeSource: {
    1: { name: 'targetPortal', type: 'string', keep: true },
    2: { name: 'iqn', type: 'string', keep: true },
    3: { name: 'lun', type: 'int32', keep: true },
    4: { name: 'iscsiInterface', type: 'string' },
    5: { name: 'fsType', type: 'string' },
    6: { name: 'readOnly', type: 'bool' },
    7: { name: 'portals', type: 'string', repeated: true },
    8: { name: 'chapAuthDiscovery', type: 'bool' },
    11: { name: 'chapAuthSession', type: 'bool' },
    10: { name: 'secretRef', type: 'message:LocalObjectReference' },
    12: { name: 'initiatorName', type: 'string', keep: true },
  },
  // core/v1
  GlusterfsVolumeSource: {
    1: { name: 'endpoints', type: 'string', keep: true },
    2: { name: 'path', type: 'string', keep: true },
    3: { name: 'readOnly', type: 'bool' },
  },
  // core/v1
  PersistentVolumeClaimVolumeSource: {
    1: { name: 'claimName', type: 'string', keep: true },
    2: { name: 'readOnly', type: 'bool' },
  },
  // core/v1
  RBDVolumeSource: {
    1: { name: 'monitors', type: 'string', repeated: true },
    2: { name: 'image', type: 'string', keep: true },
    3: { name: 'fsType', type: 'string' },
    4: { name: 'pool', type: 'string' },
    5: { name: 'user', type: 'string' },
    6: { name: 'keyring', type: 'string' },
    7: { name: 'secretRef', type: 'message:LocalObjectReference' },
    8: { name: 'readOnly', type: 'bool' },
  },
  // core/v1
  FlexVolumeSource: {
    1: { name: 'driver', type: 'string', keep: true },
    2: { name: 'fsType', type: 'string' },
    3: { name: 'secretRef', type: 'message:LocalObjectReference' },
    4: { name: 'readOnly', type: 'bool' },
    5: { name: 'options', type: 'map<string,string>' },
  },
  // core/v1
  CinderVolumeSource: {
    1: { name: 'volumeID', type: 'string', keep: true },
    2: { name: 'fsType', type: 'string' },
    3: { name: 'readOnly', type: 'bool' },
    4: { name: 'secretRef', type: 'message:LocalObjectReference' },
  },
  // core/v1
  CephFSVolumeSource: {
    1: { name: 'monitors', type: 'string', repeated: true },
    2: { name: 'path', type: 'string' },
    3: { name: 'user', type: 'string' },
    4: { name: 'secretFile', type: 'string' },
    5: { name: 'secretRef', type: 'message:LocalObjectReference' },
    6: { name: 'readOnly', type: 'bool' },
  },
  // core/v1
  FlockerVolumeSource: {
    1: { name: 'datasetName', type: 'string', keep: true },
    2: { name: 'datasetUUID', type: 'string' },
  },
  // core/v1
  DownwardAPIVolumeSource: {
    1: { name: 'items', type: 'message:DownwardAPIVolumeFile', repeated: true },
    2: { name: 'defaultMode', type: 'int32', keep: true },
  },
  // core/v1
  DownwardAPIVolumeFile: {
    1: { name: 'path', type: 'string', keep: true },
    2: { name: 'fieldRef', type: 'message:ObjectFieldSelector' },
    3: { name: 'resourceFieldRef', type: 'message:ResourceFieldSelector' },
    4: { name: 'mode', type: 'int32', keep: true },
  },
  // core/v1
  ObjectFieldSelector: {
    1: { name: 'apiVersion', type: 'string' },
    2: { name: 'fieldPath', type: 'string', keep: true },
  },
  // core/v1
  ResourceFieldSelector: {
    1: { name: 'containerName', type: 'string' },
    2: { name: 'resource', type: 'string', keep: true },
    3: { name: 'divisor', type: 'quantity' },
  },
  // core/v1
  FCVolumeSource: {
    1: { name: 'targetWWNs', type: 'string', repeated: true },
    2: { name: 'lun', type: 'int32', keep: true },
    3: { name: 'fsType', type: 'string' },
    4: { name: 'readOnly', type: 'bool' },
    5: { name: 'wwids', type: 'string', repeated: true },
  },
  // core/v1
  AzureFileVolumeSource: {
    1: { name: 'secretName', type: 'string', keep: true },
    2: { name: 'shareName', type: 'string', keep: true },
    3: { name: 'readOnly', type: 'bool' },
  },
  // core/v1
  ConfigMapVolumeSource: {
    1: { name: 'localObjectReference', type: 'message:LocalObjectReference', inline: true },
    2: { name: 'items', type: 'message:KeyToPath', repeated: true },
    3: { name: 'defaultMode', type: 'int32', keep: true },
    4: { name: 'optional', type: 'bool', keep: true },
  },
  // core/v1
  VsphereVirtualDiskVolumeSource: {
    1: { name: 'volumePath', type: 'string', keep: true },
    2: { name: 'fsType', type: 'string' },
    3: { name: 'storagePolicyName', type: 'string' },
    4: { name: 'storagePolicyID', type: 'string' },
  },
  // core/v1
  QuobyteVolumeSource: {
    1: { name: 'registry', type: 'string', keep: true },
    2: { name: 'volume', type: 'string', keep: true },
    3: { name: 'readOnly', type: 'bool' },
    4: { name: 'user', type: 'string' },
    5: { name: 'group', type: 'string' },
    6: { name: 'tenant', type: 'string' },
  },
  // core/v1
  AzureDiskVolumeSource: {
    1: { name: 'diskName', type: 'string', keep: true },
    2: { name: 'diskURI', type: 'string', keep: true },
    3: { name: 'cachingMode', type: 'string', keep: true },
    4: { name: 'fsType', type: 'string', keep: true },
    5: { name: 'readOnly', type: 'bool', keep: true },
    6: { name: 'kind', type: 'string', keep: true },
  },
  // core/v1
  PhotonPersistentDiskVolumeSource: {
    1: { name: 'pdID', type: 'string', keep: true },
    2: { name: 'fsType', type: 'string' },
  },
  // core/v1
  ProjectedVolumeSource: {
    1: { name: 'sources', type: 'message:VolumeProjection', repeated: true },
    2: { name: 'defaultMode', type: 'int32', keep: true },
  },
  // core/v1
  VolumeProjection: {
    1: { name: 'secret', type: 'message:SecretProjection' },
    2: { name: 'downwardAPI', type: 'message:DownwardAPIProjection' },
    3: { name: 'configMap', type: 'message:ConfigMapProjection' },
    4: { name: 'serviceAccountToken', type: 'message:ServiceAccountTokenProjection' },
    5: { name: 'clusterTrustBundle', type: 'message:ClusterTrustBundleProjection' },
  },
  // core/v1
  SecretProjection: {
    1: { name: 'localObjectReference', type: 'message:LocalObjectReference', inline: true },
    2: { name: 'items', type: 'message:KeyToPath', repeated: true },
    4: { name: 'optional', type: 'bool', keep: true },
  },
  // core/v1
  DownwardAPIProjection: {
    1: { name: 'items', type: 'message:DownwardAPIVolumeFile', repeated: true },
  },
  // core/v1
  ConfigMapProjection: {
    1: { name: 'localObjectReference', type: 'message:LocalObjectReference', inline: true },
    2: { name: 'items', type: 'message:KeyToPath', repeated: true },
    4: { name: 'optional', type: 'bool', keep: true },
  },
  // core/v1
  ServiceAccountTokenProjection: {
    1: { name: 'audience', type: 'string' },
    2: { name: 'expirationSeconds', type: 'int64', keep: true },
    3: { name: 'path', type: 'string', keep: true },
  },
  // core/v1
  ClusterTrustBundleProjection: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'signerName', type: 'string', keep: true },
    3: { name: 'labelSelector', type: 'message:LabelSelector' },
    5: { name: 'optional', type: 'bool', keep: true },
    4: { name: 'path', type: 'string', keep: true },
  },
  // core/v1
  PortworxVolumeSource: {
    1: { name: 'volumeID', type: 'string', keep: true },
    2: { name: 'fsType', type: 'string' },
    3: { name: 'readOnly', type: 'bool' },
  },
  // core/v1
  ScaleIOVolumeSource: {
    1: { name: 'gateway', type: 'string', keep: true },
    2: { name: 'system', type: 'string', keep: true },
    3: { name: 'secretRef', type: 'message:LocalObjectReference' },
    4: { name: 'sslEnabled', type: 'bool' },
    5: { name: 'protectionDomain', type: 'string' },
    6: { name: 'storagePool', type: 'string' },
    7: { name: 'storageMode', type: 'string' },
    8: { name: 'volumeName', type: 'string' },
    9: { name: 'fsType', type: 'string' },
    10: { name: 'readOnly', type: 'bool' },
  },
  // core/v1
  StorageOSVolumeSource: {
    1: { name: 'volumeName', type: 'string' },
    2: { name: 'volumeNamespace', type: 'string' },
    3: { name: 'fsType', type: 'string' },
    4: { name: 'readOnly', type: 'bool' },
    5: { name: 'secretRef', type: 'message:LocalObjectReference' },
  },
  // core/v1
  CSIVolumeSource: {
    1: { name: 'driver', type: 'string', keep: true },
    2: { name: 'readOnly', type: 'bool', keep: true },
    3: { name: 'fsType', type: 'string', keep: true },
    4: { name: 'volumeAttributes', type: 'map<string,string>' },
    5: { name: 'nodePublishSecretRef', type: 'message:LocalObjectReference' },
  },
  // core/v1
  EphemeralVolumeSource: {
    1: { name: 'volumeClaimTemplate', type: 'message:PersistentVolumeClaimTemplate' },
  },
  // core/v1
  PersistentVolumeClaimTemplate: {
    1: { name: 'metadata', type: 'message:ObjectMeta' },
    2: { name: 'spec', type: 'message:PersistentVolumeClaimSpec' },
  },
  // core/v1
  PersistentVolumeClaimSpec: {
    1: { name: 'accessModes', type: 'string', repeated: true },
    4: { name: 'selector', type: 'message:LabelSelector' },
    2: { name: 'resources', type: 'message:VolumeResourceRequirements' },
    3: { name: 'volumeName', type: 'string' },
    5: { name: 'storageClassName', type: 'string', keep: true },
    6: { name: 'volumeMode', type: 'string', keep: true },
    7: { name: 'dataSource', type: 'message:TypedLocalObjectReference' },
    8: { name: 'dataSourceRef', type: 'message:TypedObjectReference' },
    9: { name: 'volumeAttributesClassName', type: 'string', keep: true },
  },
  // core/v1
  VolumeResourceRequirements: {
    1: { name: 'limits', type: 'map<string,quantity>' },
    2: { name: 'requests', type: 'map<string,quantity>' },
  },
  // core/v1
  TypedLocalObjectReference: {
    1: { name: 'apiGroup', type: 'string', keep: true },
    2: { name: 'kind', type: 'string', keep: true },
    3: { name: 'name', type: 'string', keep: true },
  },
  // core/v1
  TypedObjectReference: {
    1: { name: 'apiGroup', type: 'string', keep: true },
    2: { name: 'kind', type: 'string', keep: true },
    3: { name: 'name', type: 'string', keep: true },
    4: { name: 'namespace', type: 'string', keep: true },
  },
  // core/v1
  ImageVolumeSource: {
    1: { name: 'reference', type: 'string' },
    2: { name: 'pullPolicy', type: 'string' },
  },
  // core/v1
  Container: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'image', type: 'string' },
    3: { name: 'command', type: 'string', repeated: true },
    4: { name: 'args', type: 'string', repeated: true },
    5: { name: 'workingDir', type: 'string' },
    6: { name: 'ports', type: 'message:ContainerPort', repeated: true },
    19: { name: 'envFrom', type: 'message:EnvFromSource', repeated: true },
    7: { name: 'env', type: 'message:EnvVar', repeated: true },
    8: { name: 'resources', type: 'message:ResourceRequirements' },
    23: { name: 'resizePolicy', type: 'message:ContainerResizePolicy', repeated: true },
    24: { name: 'restartPolicy', type: 'string', keep: true },
    9: { name: 'volumeMounts', type: 'message:VolumeMount', repeated: true },
    21: { name: 'volumeDevices', type: 'message:VolumeDevice', repeated: true },
    10: { name: 'livenessProbe', type: 'message:Probe' },
    11: { name: 'readinessProbe', type: 'message:Probe' },
    22: { name: 'startupProbe', type: 'message:Probe' },
    12: { name: 'lifecycle', type: 'message:Lifecycle' },
    13: { name: 'terminationMessagePath', type: 'string' },
    20: { name: 'terminationMessagePolicy', type: 'string' },
    14: { name: 'imagePullPolicy', type: 'string' },
    15: { name: 'securityContext', type: 'message:SecurityContext' },
    16: { name: 'stdin', type: 'bool' },
    17: { name: 'stdinOnce', type: 'bool' },
    18: { name: 'tty', type: 'bool' },
  },
  // core/v1
  ContainerPort: {
    1: { name: 'name', type: 'string' },
    2: { name: 'hostPort', type: 'int32' },
    3: { name: 'containerPort', type: 'int32', keep: true },
    4: { name: 'protocol', type: 'string' },
    5: { name: 'hostIP', type: 'string' },
  },
  // core/v1
  EnvFromSource: {
    1: { name: 'prefix', type: 'string' },
    2: { name: 'configMapRef', type: 'message:ConfigMapEnvSource' },
    3: { name: 'secretRef', type: 'message:SecretEnvSource' },
  },
  // core/v1
  ConfigMapEnvSource: {
    1: { name: 'localObjectReference', type: 'message:LocalObjectReference', inline: true },
    2: { name: 'optional', type: 'bool', keep: true },
  },
  // core/v1
  SecretEnvSource: {
    1: { name: 'localObjectReference', type: 'message:LocalObjectReference', inline: true },
    2: { name: 'optional', type: 'bool', keep: true },
  },
  // core/v1
  EnvVar: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'value', type: 'string' },
    3: { name: 'valueFrom', type: 'message:EnvVarSource' },
  },
  // core/v1
  EnvVarSource: {
    1: { name: 'fieldRef', type: 'message:ObjectFieldSelector' },
    2: { name: 'resourceFieldRef', type: 'message:ResourceFieldSelector' },
    3: { name: 'configMapKeyRef', type: 'message:ConfigMapKeySelector' },
    4: { name: 'secretKeyRef', type: 'message:SecretKeySelector' },
  },
  // core/v1
  ConfigMapKeySelector: {
    1: { name: 'localObjectReference', type: 'message:LocalObjectReference', inline: true },
    2: { name: 'key', type: 'string', keep: true },
    3: { name: 'optional', type: 'bool', keep: true },
  },
  // core/v1
  SecretKeySelector: {
    1: { name: 'localObjectReference', type: 'message:LocalObjectReference', inline: true },
    2: { name: 'key', type: 'string', keep: true },
    3: { name: 'optional', type: 'bool', keep: true },
  },
  // core/v1
  ResourceRequirements: {
    1: { name: 'limits', type: 'map<string,quantity>' },
    2: { name: 'requests', type: 'map<string,quantity>' },
    3: { name: 'claims', type: 'message:ResourceClaim', repeated: true },
  },
  // core/v1
  ResourceClaim: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'request', type: 'string' },
  },
  // core/v1
  ContainerResizePolicy: {
    1: { name: 'resourceName', type: 'string', keep: true },
    2: { name: 'restartPolicy', type: 'string', keep: true },
  },
  // core/v1
  VolumeMount: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'readOnly', type: 'bool' },
    7: { name: 'recursiveReadOnly', type: 'string', keep: true },
    3: { name: 'mountPath', type: 'string', keep: true },
    4: { name: 'subPath', type: 'string' },
    5: { name: 'mountPropagation', type: 'string', keep: true },
    6: { name: 'subPathExpr', type: 'string' },
  },
  // core/v1
  VolumeDevice: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'devicePath', type: 'string', keep: true },
  },
  // core/v1
  Probe: {
    1: { name: 'handler', type: 'message:ProbeHandler', inline: true },
    2: { name: 'initialDelaySeconds', type: 'int32' },
    3: { name: 'timeoutSeconds', type: 'int32' },
    4: { name: 'periodSeconds', type: 'int32' },
    5: { name: 'successThreshold', type: 'int32' },
    6: { name: 'failureThreshold', type: 'int32' },
    7: { name: 'terminationGracePeriodSeconds', type: 'int64', keep: true },
  },
  // core/v1
  ProbeHandler: {
    1: { name: 'exec', type: 'message:ExecAction' },
    2: { name: 'httpGet', type: 'message:HTTPGetAction' },
    3: { name: 'tcpSocket', type: 'message:TCPSocketAction' },
    4: { name: 'grpc', type: 'message:GRPCAction' },
  },
  // core/v1
  ExecAction: {
    1: { name: 'command', type: 'string', repeated: true },
  },
  // core/v1
  HTTPGetAction: {
    1: { name: 'path', type: 'string' },
    2: { name: 'port', type: 'intorstring' },
    3: { name: 'host', type: 'string' },
    4: { name: 'scheme', type: 'string' },
    5: { name: 'httpHeaders', type: 'message:HTTPHeader', repeated: true },
  },
  // core/v1
  HTTPHeader: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'value', type: 'string', keep: true },
  },
  // core/v1
  TCPSocketAction: {
    1: { name: 'port', type: 'intorstring' },
    2: { name: 'host', type: 'string' },
  },
  // core/v1
  GRPCAction: {
    1: { name: 'port', type: 'int32', keep: true },
    2: { name: 'service', type: 'string', keep: true },
  },
  // core/v1
  Lifecycle: {
    1: { name: 'postStart', type: 'message:LifecycleHandler' },
    2: { name: 'preStop', type: 'message:LifecycleHandler' },
  },
  // core/v1
  LifecycleHandler: {
    1: { name: 'exec', type: 'message:ExecAction' },
    2: { name: 'httpGet', type: 'message:HTTPGetAction' },
    3: { name: 'tcpSocket', type: 'message:TCPSocketAction' },
    4: { name: 'sleep', type: 'message:SleepAction' },
  },
  // core/v1
  SleepAction: {
    1: { name: 'seconds', type: 'int64', keep: true },
  },
  // core/v1
  SecurityContext: {
    1: { name: 'capabilities', type: 'message:Capabilities' },
    2: { name: 'privileged', type: 'bool', keep: true },
    3: { name: 'seLinuxOptions', type: 'message:SELinuxOptions' },
    10: { name: 'windowsOptions', type: 'message:WindowsSecurityContextOptions' },
    4: { name: 'runAsUser', type: 'int64', keep: true },
    8: { name: 'runAsGroup', type: 'int64', keep: true },
    5: { name: 'runAsNonRoot', type: 'bool', keep: true },
    6: { name: 'readOnlyRootFilesystem', type: 'bool', keep: true },
    7: { name: 'allowPrivilegeEscalation', type: 'bool', keep: true },
    9: { name: 'procMount', type: 'string', keep: true },
    11: { name: 'seccompProfile', type: 'message:SeccompProfile' },
    12: { name: 'appArmorProfile', type: 'message:AppArmorProfile' },
  },
  // core/v1
  Capabilities: {
    1: { name: 'add', type: 'string', repeated: true },
    2: { name: 'drop', type: 'string', repeated: true },
  },
  // core/v1
  SELinuxOptions: {
    1: { name: 'user', type: 'string' },
    2: { name: 'role', type: 'string' },
    3: { name: 'type', type: 'string' },
    4: { name: 'level', type: 'string' },
  },
  // core/v1
  WindowsSecurityContextOptions: {
    1: { name: 'gmsaCredentialSpecName', type: 'string', keep: true },
    2: { name: 'gmsaCredentialSpec', type: 'string', keep: true },
    3: { name: 'runAsUserName', type: 'string', keep: true },
    4: { name: 'hostProcess', type: 'bool', keep: true },
  },
  // core/v1
  SeccompProfile: {
    1: { name: 'type', type: 'string', keep: true },
    2: { name: 'localhostProfile', type: 'string', keep: true },
  },
  // core/v1
  AppArmorProfile: {
    1: { name: 'type', type: 'string', keep: true },
    2: { name: 'localhostProfile', type: 'string', keep: true },
  },
  // core/v1
  EphemeralContainer: {
    1: { name: 'ephemeralContainerCommon', type: 'message:EphemeralContainerCommon', inline: true },
    2: { name: 'targetContainerName', type: 'string' },
  },
  // core/v1
  EphemeralContainerCommon: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'image', type: 'string' },
    3: { name: 'command', type: 'string', repeated: true },
    4: { name: 'args', type: 'string', repeated: true },
    5: { name: 'workingDir', type: 'string' },
    6: { name: 'ports', type: 'message:ContainerPort', repeated: true },
    19: { name: 'envFrom', type: 'message:EnvFromSource', repeated: true },
    7: { name: 'env', type: 'message:EnvVar', repeated: true },
    8: { name: 'resources', type: 'message:ResourceRequirements' },
    23: { name: 'resizePolicy', type: 'message:ContainerResizePolicy', repeated: true },
    24: { name: 'restartPolicy', type: 'string', keep: true },
    9: { name: 'volumeMounts', type: 'message:VolumeMount', repeated: true },
    21: { name: 'volumeDevices', type: 'message:VolumeDevice', repeated: true },
    10: { name: 'livenessProbe', type: 'message:Probe' },
    11: { name: 'readinessProbe', type: 'message:Probe' },
    22: { name: 'startupProbe', type: 'message:Probe' },
    12: { name: 'lifecycle', type: 'message:Lifecycle' },
    13: { name: 'terminationMessagePath', type: 'string' },
    20: { name: 'terminationMessagePolicy', type: 'string' },
    14: { name: 'imagePullPolicy', type: 'string' },
    15: { name: 'securityContext', type: 'message:SecurityContext' },
    16: { name: 'stdin', type: 'bool' },
    17: { name: 'stdinOnce', type: 'bool' },
    18: { name: 'tty', type: 'bool' },
  },
  // core/v1
  PodSecurityContext: {
    1: { name: 'seLinuxOptions', type: 'message:SELinuxOptions' },
    8: { name: 'windowsOptions', type: 'message:WindowsSecurityContextOptions' },
    2: { name: 'runAsUser', type: 'int64', keep: true },
    6: { name: 'runAsGroup', type: 'int64', keep: true },
    3: { name: 'runAsNonRoot', type: 'bool', keep: true },
    4: { name: 'supplementalGroups', type: 'int64', repeated: true },
    12: { name: 'supplementalGroupsPolicy', type: 'string', keep: true },
    5: { name: 'fsGroup', type: 'int64', keep: true },
    7: { name: 'sysctls', type: 'message:Sysctl', repeated: true },
    9: { name: 'fsGroupChangePolicy', type: 'string', keep: true },
    10: { name: 'seccompProfile', type: 'message:SeccompProfile' },
    11: { name: 'appArmorProfile', type: 'message:AppArmorProfile' },
    13: { name: 'seLinuxChangePolicy', type: 'string', keep: true },
  },
  // core/v1
  Sysctl: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'value', type: 'string', keep: true },
  },
  // core/v1
  Affinity: {
    1: { name: 'nodeAffinity', type: 'message:NodeAffinity' },
    2: { name: 'podAffinity', type: 'message:PodAffinity' },
    3: { name: 'podAntiAffinity', type: 'message:PodAntiAffinity' },
  },
  // core/v1
  NodeAffinity: {
    1: { name: 'requiredDuringSchedulingIgnoredDuringExecution', type: 'message:NodeSelector' },
    2: { name: 'preferredDuringSchedulingIgnoredDuringExecution', type: 'message:PreferredSchedulingTerm', repeated: true },
  },
  // core/v1
  NodeSelector: {
    1: { name: 'nodeSelectorTerms', type: 'message:NodeSelectorTerm', repeated: true },
  },
  // core/v1
  NodeSelectorTerm: {
    1: { name: 'matchExpressions', type: 'message:NodeSelectorRequirement', repeated: true },
    2: { name: 'matchFields', type: 'message:NodeSelectorRequirement', repeated: true },
  },
  // core/v1
  NodeSelectorRequirement: {
    1: { name: 'key', type: 'string', keep: true },
    2: { name: 'operator', type: 'string', keep: true },
    3: { name: 'values', type: 'string', repeated: true },
  },
  // core/v1
  PreferredSchedulingTerm: {
    1: { name: 'weight', type: 'int32', keep: true },
    2: { name: 'preference', type: 'message:NodeSelectorTerm' },
  },
  // core/v1
  PodAffinity: {
    1: { name: 'requiredDuringSchedulingIgnoredDuringExecution', type: 'message:PodAffinityTerm', repeated: true },
    2: { name: 'preferredDuringSchedulingIgnoredDuringExecution', type: 'message:WeightedPodAffinityTerm', repeated: true },
  },
  // core/v1
  PodAffinityTerm: {
    1: { name: 'labelSelector', type: 'message:LabelSelector' },
    2: { name: 'namespaces', type: 'string', repeated: true },
    3: { name: 'topologyKey', type: 'string', keep: true },
    4: { name: 'namespaceSelector', type: 'message:LabelSelector' },
    5: { name: 'matchLabelKeys', type: 'string', repeated: true },
    6: { name: 'mismatchLabelKeys', type: 'string', repeated: true },
  },
  // core/v1
  WeightedPodAffinityTerm: {
    1: { name: 'weight', type: 'int32', keep: true },
    2: { name: 'podAffinityTerm', type: 'message:PodAffinityTerm' },
  },
  // core/v1
  PodAntiAffinity: {
    1: { name: 'requiredDuringSchedulingIgnoredDuringExecution', type: 'message:PodAffinityTerm', repeated: true },
    2: { name: 'preferredDuringSchedulingIgnoredDuringExecution', type: 'message:WeightedPodAffinityTerm', repeated: true },
  },
  // core/v1
  Toleration: {
    1: { name: 'key', type: 'string' },
    2: { name: 'operator', type: 'string' },
    3: { name: 'value', type: 'string' },
    4: { name: 'effect', type: 'string' },
    5: { name: 'tolerationSeconds', type: 'int64', keep: true },
  },
  // core/v1
  HostAlias: {
    1: { name: 'ip', type: 'string', keep: true },
    2: { name: 'hostnames', type: 'string', repeated: true },
  },
  // core/v1
  PodDNSConfig: {
    1: { name: 'nameservers', type: 'string', repeated: true },
    2: { name: 'searches', type: 'string', repeated: true },
    3: { name: 'options', type: 'message:PodDNSConfigOption', repeated: true },
  },
  // core/v1
  PodDNSConfigOption: {
    1: { name: 'name', type: 'string' },
    2: { name: 'value', type: 'string', keep: true },
  },
  // core/v1
  PodReadinessGate: {
    1: { name: 'conditionType', type: 'string', keep: true },
  },
  // core/v1
  TopologySpreadConstraint: {
    1: { name: 'maxSkew', type: 'int32', keep: true },
    2: { name: 'topologyKey', type: 'string', keep: true },
    3: { name: 'whenUnsatisfiable', type: 'string', keep: true },
    4: { name: 'labelSelector', type: 'message:LabelSelector' },
    5: { name: 'minDomains', type: 'int32', keep: true },
    6: { name: 'nodeAffinityPolicy', type: 'string', keep: true },
    7: { name: 'nodeTaintsPolicy', type: 'string', keep: true },
    8: { name: 'matchLabelKeys', type: 'string', repeated: true },
  },
  // core/v1
  PodOS: {
    1: { name: 'name', type: 'string' },
  },
  // core/v1
  PodSchedulingGate: {
    1: { name: 'name', type: 'string', keep: true },
  },
  // core/v1
  PodResourceClaim: {
    1: { name: 'name', type: 'string', keep: true },
    3: { name: 'resourceClaimName', type: 'string', keep: true },
    4: { name: 'resourceClaimTemplateName', type: 'string', keep: true },
  },
  // apps/v1
  DeploymentStrategy: {
    1: { name: 'type', type: 'string' },
    2: { name: 'rollingUpdate', type: 'message:RollingUpdateDeployment' },
  },
  // apps/v1
  RollingUpdateDeployment: {
    1: { name: 'maxUnavailable', type: 'intorstring' },
    2: { name: 'maxSurge', type: 'intorstring' },
  },
  // apps/v1
  DeploymentStatus: {
    1: { name: 'observedGeneration', type: 'int64' },
    2: { name: 'replicas', type: 'int32' },
    3: { name: 'updatedReplicas', type: 'int32' },
    7: { name: 'readyReplicas', type: 'int32' },
    4: { name: 'availableReplicas', type: 'int32' },
    5: { name: 'unavailableReplicas', type: 'int32' },
    6: { name: 'conditions', type: 'message:DeploymentCondition', repeated: true },
    8: { name: 'collisionCount', type: 'int32', keep: true },
  },
  // apps/v1
  DeploymentCondition: {
    1: { name: 'type', type: 'string', keep: true },
    2: { name: 'status', type: 'string', keep: true },
    6: { name: 'lastUpdateTime', type: 'time' },
    7: { name: 'lastTransitionTime', type: 'time' },
    4: { name: 'reason', type: 'string' },
    5: { name: 'message', type: 'string' },
  },
  // networking/v1
  Ingress: {
    1: { name: 'metadata', type: 'message:ObjectMeta' },
    2: { name: 'spec', type: 'message:IngressSpec' },
    3: { name: 'status', type: 'message:IngressStatus' },
  },
  // networking/v1
  IngressSpec: {
    4: { name: 'ingressClassName', type: 'string', keep: true },
    1: { name: 'defaultBackend', type: 'message:IngressBackend' },
    2: { name: 'tls', type: 'message:IngressTLS', repeated: true },
    3: { name: 'rules', type: 'message:IngressRule', repeated: true },
  },
  // networking/v1
  IngressBackend: {
    4: { name: 'service', type: 'message:IngressServiceBackend' },
    3: { name: 'resource', type: 'message:TypedLocalObjectReference' },
  },
  // networking/v1
  IngressServiceBackend: {
    1: { name: 'name', type: 'string', keep: true },
    2: { name: 'port', type: 'message:ServiceBackendPort' },
  },
  // networking/v1
  ServiceBackendPort: {
    1: { name: 'name', type: 'string' },
    2: { name: 'number', type: 'int32' },
  },
  // networking/v1
  IngressTLS: {
    1: { name: 'hosts', type: 'string', repeated: true },
    2: { name: 'secretName', type: 'string' },
  },
  // networking/v1
  IngressRule: {
    1: { name: 'host', type: 'string' },
    2: { name: 'ingressRuleValue', type: 'message:IngressRuleValue', inline: true },
  },
  // networking/v1
  IngressRuleValue: {
    1: { name: 'http', type: 'message:HTTPIngressRuleValue' },
  },
  // networking/v1
  HTTPIngressRuleValue: {
    1: { name: 'paths', type: 'message:HTTPIngressPath', repeated: true },
  },
  // networking/v1
  HTTPIngressPath: {
    1: { name: 'path', type: 'string' },
    3: { name: 'pathType', type: 'string', keep: true },
    2: { name: 'backend', type: 'message:IngressBackend' },
  },
  // networking/v1
  IngressStatus: {
    1: { name: 'loadBalancer', type: 'message:IngressLoadBalancerStatus' },
  },
  // networking/v1
  IngressLoadBalancerStatus: {
    1: { name: 'ingress', type: 'message:IngressLoadBalancerIngress', repeated: true },
  },
  // networking/v1
  IngressLoadBalancerIngress: {
    1: { name: 'ip', type: 'string' },
    2: { name: 'hostname', type: 'string' },
    4: { name: 'ports', type: 'message:IngressPortStatus', repeated: true },
  },
  // networking/v1
  IngressPortStatus: {
    1: { name: 'port', type: 'int32', keep: true },
    2: { name: 'protocol', type: 'string', keep: true },
    3: { name: 'error', type: 'string', keep: true },
  },
  // runtime
  Unknown: {
    1: { name: 'typeMeta', type: 'message:RuntimeTypeMeta' },
    2: { name: 'raw', type: 'bytes', keep: true },
    3: { name: 'contentEncoding', type: 'string' },
    4: { name: 'contentType', type: 'string' },
  },
  // runtime
  RuntimeTypeMeta: {
    1: { name: 'apiVersion', type: 'string' },
    2: { name: 'kind', type: 'string' },
  },
  // apis/meta/v1
  TypeMeta: {
    1: { name: 'kind', type: 'string' },
    2: { name: 'apiVersion', type: 'string' },
  },};

/** The kinds whose protobuf bodies can be decoded, by apiVersion and kind, with their message. */
const ROOTS: ReadonlyArray<{ apiVersion: string; kind: string; message: string }> = [
  { apiVersion: 'v1', kind: 'Namespace', message: 'Namespace' },
  { apiVersion: 'v1', kind: 'ConfigMap', message: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Secret', message: 'Secret' },
  { apiVersion: 'v1', kind: 'ServiceAccount', message: 'ServiceAccount' },
  { apiVersion: 'v1', kind: 'Service', message: 'Service' },
  { apiVersion: 'apps/v1', kind: 'Deployment', message: 'Deployment' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', message: 'Ingress' },
];

/** The kinds `decodeKubernetesProtobuf` accepts, as `apiVersion/kind` strings. */
export const protobufSupportedKinds: readonly string[] = ROOTS.map((r) => `${r.apiVersion}/${r.kind}`);

export const KUBERNETES_PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"
const MAX_DEPTH = 64;

function rootFor(apiVersion: string, kind: string): string | undefined {
  return ROOTS.find((r) => r.apiVersion === apiVersion && r.kind === kind)?.message;
}

function unsupported(apiVersion: string, kind: string): Error {
  const what = kind ? `${apiVersion ? `${apiVersion}, ` : ''}kind ${kind}` : 'an object without a kind';
  return new Error(`protobuf bodies are supported for ${protobufSupportedKinds.join(', ')}; send JSON for ${what}`);
}

function schemaOf(message: string): ProtoMessageSchema {
  const s = protobufSchema[message];
  if (!s) throw new Error(`protobuf: no schema for message ${message}`);
  return s;
}

/** Defines an own enumerable property, safe for keys such as `__proto__`. */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---- decoding -------------------------------------------------------------------------------

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

class Reader {
  pos: number;
  constructor(readonly buf: Buffer, start: number, readonly end: number) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Reads a varint as its low and high 32-bit halves. */
  varint(): { lo: number; hi: number } {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++]!;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >> 4;
      } else hi |= bits << (7 * i - 32);
      if (b < 0x80) {
        if (i === 9 && b > 1) throw new Error('protobuf: varint overflows 64 bits');
        return { lo: lo >>> 0, hi: hi >>> 0 };
      }
    }
    throw new Error('protobuf: varint longer than 10 bytes');
  }

  /** A varint that must fit in an unsigned 32-bit value (tags, lengths). */
  uint32(): number {
    const { lo, hi } = this.varint();
    if (hi !== 0) throw new Error('protobuf: length or tag out of range');
    return lo;
  }

  int32(): number {
    return this.varint().lo | 0;
  }

  int64(): number {
    const { lo, hi } = this.varint();
    if (hi === 0) return lo;
    return Number(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)));
  }

  bool(): boolean {
    const { lo, hi } = this.varint();
    return lo !== 0 || hi !== 0;
  }

  /** Reads a length prefix and returns the [start, end) of the bytes it covers, advancing past them. */
  lengthDelimited(): [number, number] {
    const len = this.uint32();
    if (len > this.end - this.pos) throw new Error('protobuf: length runs past the end of the data');
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }

  bytes(): Buffer {
    const [s, e] = this.lengthDelimited();
    return Buffer.from(this.buf.subarray(s, e));
  }

  string(): string {
    const [s, e] = this.lengthDelimited();
    return this.buf.toString('utf8', s, e);
  }

  skipBytes(n: number): void {
    if (n > this.end - this.pos) throw new Error('protobuf: field runs past the end of the data');
    this.pos += n;
  }

  /** Skips a field of the given wire type whose tag has just been read. */
  skip(wireType: number, fieldNumber: number, depth: number): void {
    switch (wireType) {
      case WIRE_VARINT: this.varint(); return;
      case WIRE_FIXED64: this.skipBytes(8); return;
      case WIRE_LEN: this.lengthDelimited(); return;
      case WIRE_FIXED32: this.skipBytes(4); return;
      case WIRE_START_GROUP: {
        if (depth >= MAX_DEPTH) throw new Error('protobuf: nesting too deep');
        for (;;) {
          if (this.done) throw new Error('protobuf: unterminated group');
          const [num, wt] = this.tag();
          if (wt === WIRE_END_GROUP) {
            if (num !== fieldNumber) throw new Error('protobuf: mismatched end of group');
            return;
          }
          this.skip(wt, num, depth + 1);
        }
      }
      default: throw new Error(`protobuf: invalid wire type ${wireType}`);
    }
  }

  tag(): [number, number] {
    const key = this.uint32();
    const num = key >>> 3;
    const wt = key & 7;
    if (num === 0) throw new Error('protobuf: invalid field number 0');
    return [num, wt];
  }

  sub(start: number, end: number): Reader {
    return new Reader(this.buf, start, end);
  }
}

function expectWire(actual: number, expected: number, message: string, field: ProtoField): void {
  if (actual !== expected) {
    throw new Error(`protobuf: wrong wire type ${actual} for ${message}.${field.name}`);
  }
}

function isZero(v: unknown): boolean {
  return v === '' || v === 0 || v === false || (Buffer.isBuffer(v) && v.length === 0);
}

/** Decodes the message in r as JSON; inline fields are merged in, zero scalars not kept are dropped. */
function decodeMessage(r: Reader, message: string, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new Error('protobuf: nesting too deep');
  const schema = schemaOf(message);
  const out: Record<string, unknown> = {};
  // scalar fields are collected first so that a later occurrence (last one wins) and zero-dropping work
  const scalars = new Map<string, { v: unknown; f: ProtoField }>();
  while (!r.done) {
    const [num, wt] = r.tag();
    const field = schema[num];
    if (!field) {
      r.skip(wt, num, depth);
      continue;
    }
    const t = field.type;
    if (field.repeated) {
      let arr = out[field.name] as unknown[] | undefined;
      if (!Array.isArray(arr)) {
        arr = [];
        setOwn(out, field.name, arr);
      }
      if ((t === 'int32' || t === 'int64' || t === 'bool') && wt === WIRE_LEN) {
        const [s, e] = r.lengthDelimited(); // packed
        const pr = r.sub(s, e);
        while (!pr.done) arr.push(decodeScalar(pr, t));
      } else {
        arr.push(decodeValue(r, wt, message, field, depth));
      }
      continue;
    }
    if (t.startsWith('map<')) {
      expectWire(wt, WIRE_LEN, message, field);
      let m = out[field.name] as Record<string, unknown> | undefined;
      if (m === undefined) {
        m = {};
        setOwn(out, field.name, m);
      }
      const [s, e] = r.lengthDelimited();
      decodeMapEntry(r.sub(s, e), t, m, depth + 1);
      continue;
    }
    if (field.inline) {
      expectWire(wt, WIRE_LEN, message, field);
      const [s, e] = r.lengthDelimited();
      const inner = decodeMessage(r.sub(s, e), t.slice('message:'.length), depth + 1);
      for (const [k, v] of Object.entries(inner)) {
        scalars.delete(k);
        setOwn(out, k, v);
      }
      continue;
    }
    const v = decodeValue(r, wt, message, field, depth);
    if (t === 'string' || t === 'int32' || t === 'int64' || t === 'bool' || t === 'bytes') {
      scalars.set(field.name, { v, f: field });
    } else {
      setOwn(out, field.name, v);
    }
  }
  for (const [name, { v, f }] of scalars) {
    if (!f.keep && isZero(v)) continue;
    setOwn(out, name, Buffer.isBuffer(v) ? v.toString('base64') : v);
  }
  return out;
}

function decodeScalar(r: Reader, t: 'int32' | 'int64' | 'bool'): unknown {
  if (t === 'int32') return r.int32();
  if (t === 'int64') return r.int64();
  return r.bool();
}

/** Decodes one occurrence of a (non-map) field. Bytes are returned as a Buffer for scalars. */
function decodeValue(r: Reader, wt: number, message: string, field: ProtoField, depth: number): unknown {
  const t = field.type;
  switch (t) {
    case 'int32':
    case 'int64':
    case 'bool':
      expectWire(wt, WIRE_VARINT, message, field);
      return decodeScalar(r, t);
    case 'string':
      expectWire(wt, WIRE_LEN, message, field);
      return r.string();
    case 'bytes':
      expectWire(wt, WIRE_LEN, message, field);
      return field.repeated ? r.bytes().toString('base64') : r.bytes();
    default: {
      expectWire(wt, WIRE_LEN, message, field);
      const [s, e] = r.lengthDelimited();
      return decodeEmbedded(r.sub(s, e), t, depth + 1);
    }
  }
}

/** Decodes a length-delimited value of a message-like type. */
function decodeEmbedded(r: Reader, t: ProtoFieldType, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new Error('protobuf: nesting too deep');
  switch (t) {
    case 'intorstring': return decodeIntOrString(r, depth);
    case 'quantity': return decodeQuantity(r, depth);
    case 'time': return decodeTime(r, depth);
    case 'json': return decodeFieldsV1(r, depth);
    default:
      if (t.startsWith('message:')) return decodeMessage(r, t.slice('message:'.length), depth);
      throw new Error(`protobuf: field type ${t} cannot be embedded`);
  }
}

function decodeIntOrString(r: Reader, depth: number): number | string {
  // type = 1 (int64: 0 int, 1 string), intVal = 2 (int32), strVal = 3 (string)
  let type = 0;
  let intVal = 0;
  let strVal = '';
  while (!r.done) {
    const [num, wt] = r.tag();
    if (num === 1 && wt === WIRE_VARINT) type = r.int64();
    else if (num === 2 && wt === WIRE_VARINT) intVal = r.int32();
    else if (num === 3 && wt === WIRE_LEN) strVal = r.string();
    else r.skip(wt, num, depth);
  }
  return type === 1 ? strVal : intVal;
}

function decodeQuantity(r: Reader, depth: number): string {
  // string = 1
  let s = '';
  while (!r.done) {
    const [num, wt] = r.tag();
    if (num === 1 && wt === WIRE_LEN) s = r.string();
    else r.skip(wt, num, depth);
  }
  return s === '' ? '0' : s;
}

/** Seconds of Go's zero time.Time relative to the Unix epoch. */
const GO_ZERO_TIME_SECONDS = -62135596800;

function decodeTime(r: Reader, depth: number): string | null {
  // Timestamp: seconds = 1 (int64), nanos = 2 (int32). A zero Time is sent as an empty message.
  // Kubernetes' Time keeps whole seconds only; nanos are ignored, as upstream does.
  if (r.done) return null;
  let seconds = 0;
  while (!r.done) {
    const [num, wt] = r.tag();
    if (num === 1 && wt === WIRE_VARINT) seconds = r.int64();
    else r.skip(wt, num, depth);
  }
  if (seconds === GO_ZERO_TIME_SECONDS) return null;
  const d = new Date(seconds * 1000);
  const year = d.getUTCFullYear();
  if (Number.isNaN(d.getTime()) || year < 0 || year > 9999) {
    throw new Error(`protobuf: timestamp ${seconds} out of range`);
  }
  return `${d.toISOString().slice(0, 19)}Z`;
}

function decodeFieldsV1(r: Reader, depth: number): unknown {
  // Raw = 1 (bytes of JSON)
  let raw: Buffer | undefined;
  while (!r.done) {
    const [num, wt] = r.tag();
    if (num === 1 && wt === WIRE_LEN) raw = r.bytes();
    else r.skip(wt, num, depth);
  }
  if (!raw || raw.length === 0) return null;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (err) {
    throw new Error(`protobuf: fieldsV1 is not valid JSON: ${(err as Error).message}`);
  }
}

function decodeMapEntry(r: Reader, t: ProtoFieldType, into: Record<string, unknown>, depth: number): void {
  // key = 1, value = 2
  let key = '';
  let value: unknown;
  while (!r.done) {
    const [num, wt] = r.tag();
    if (num === 1 && wt === WIRE_LEN) key = r.string();
    else if (num === 2 && wt === WIRE_LEN) {
      if (t === 'map<string,string>') value = r.string();
      else if (t === 'map<string,bytes>') value = r.bytes().toString('base64');
      else {
        const [s, e] = r.lengthDelimited();
        value = decodeQuantity(r.sub(s, e), depth + 1);
      }
    } else r.skip(wt, num, depth);
  }
  if (value === undefined) value = t === 'map<string,quantity>' ? '0' : '';
  setOwn(into, key, value);
}

/**
 * Decodes a Kubernetes protobuf request body (`application/vnd.kubernetes.protobuf`) into the
 * object's JSON form, including `apiVersion` and `kind`. Throws only `Error`s: for a missing magic
 * prefix, malformed protobuf, or a kind it has no schema for.
 */
export function decodeKubernetesProtobuf(body: Buffer): Record<string, unknown> {
  try {
    return decodeBody(body);
  } catch (err) {
    if (err instanceof Error) throw err;
    throw new Error(`protobuf: ${String(err)}`);
  }
}

function decodeBody(body: Buffer): Record<string, unknown> {
  if (!Buffer.isBuffer(body)) throw new Error('protobuf: body must be a Buffer');
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error('protobuf: body does not start with the Kubernetes protobuf prefix "k8s\\0"');
  }
  // runtime.Unknown: typeMeta = 1, raw = 2, contentEncoding = 3, contentType = 4
  const r = new Reader(body, MAGIC.length, body.length);
  let apiVersion = '';
  let kind = '';
  let raw: [number, number] | undefined;
  let contentEncoding = '';
  while (!r.done) {
    const [num, wt] = r.tag();
    if (num === 1 && wt === WIRE_LEN) {
      // runtime.TypeMeta: apiVersion = 1, kind = 2
      const [s, e] = r.lengthDelimited();
      const tr = r.sub(s, e);
      while (!tr.done) {
        const [n2, w2] = tr.tag();
        if (n2 === 1 && w2 === WIRE_LEN) apiVersion = tr.string();
        else if (n2 === 2 && w2 === WIRE_LEN) kind = tr.string();
        else tr.skip(w2, n2, 1);
      }
    } else if (num === 2 && wt === WIRE_LEN) raw = r.lengthDelimited();
    else if (num === 3 && wt === WIRE_LEN) contentEncoding = r.string();
    else if (num === 4 && wt === WIRE_LEN) r.string(); // contentType: the raw bytes are protobuf either way
    else if (num >= 1 && num <= 4) throw new Error(`protobuf: wrong wire type ${wt} for Unknown field ${num}`);
    else r.skip(wt, num, 0);
  }
  if (contentEncoding !== '') throw new Error(`protobuf: unsupported contentEncoding ${JSON.stringify(contentEncoding)}`);
  const message = rootFor(apiVersion, kind);
  if (!message) throw unsupported(apiVersion, kind);
  const obj = raw ? decodeMessage(r.sub(raw[0], raw[1]), message, 1) : {};
  const out: Record<string, unknown> = { apiVersion, kind };
  for (const [k, v] of Object.entries(obj)) setOwn(out, k, v);
  return out;
}

// ---- encoding -------------------------------------------------------------------------------

class Writer {
  private chunks: Buffer[] = [];
  private cur: number[] = [];

  private flush(): void {
    if (this.cur.length) {
      this.chunks.push(Buffer.from(this.cur));
      this.cur = [];
    }
  }

  varint(n: number | bigint): void {
    let v = typeof n === 'bigint' ? BigInt.asUintN(64, n) : n;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new Error(`protobuf: ${v} is not an integer`);
      if (v < 0) v = BigInt.asUintN(64, BigInt(v));
    }
    if (typeof v === 'number') {
      while (v >= 0x80) {
        this.cur.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      this.cur.push(v);
    } else {
      while (v >= 0x80n) {
        this.cur.push(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
      }
      this.cur.push(Number(v));
    }
  }

  tag(num: number, wt: number): void {
    this.varint(num * 8 + wt);
  }

  bytes(num: number, b: Buffer): void {
    this.tag(num, WIRE_LEN);
    this.varint(b.length);
    this.flush();
    this.chunks.push(b);
  }

  string(num: number, s: string): void {
    this.bytes(num, Buffer.from(s, 'utf8'));
  }

  finish(): Buffer {
    this.flush();
    return Buffer.concat(this.chunks);
  }
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function asObject(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new Error(`protobuf: ${where} must be an object, not ${typeName(v)}`);
  }
  return v as Record<string, unknown>;
}

/** The JSON field names a message (with its inline members) accepts. */
function jsonNames(message: string): Set<string> {
  const names = new Set<string>();
  for (const f of Object.values(schemaOf(message))) {
    if (f.inline) for (const n of jsonNames(f.type.slice('message:'.length))) names.add(n);
    else names.add(f.name);
  }
  return names;
}

function encodeMessage(obj: Record<string, unknown>, message: string, where: string, depth: number): Buffer {
  if (depth > MAX_DEPTH) throw new Error('protobuf: nesting too deep');
  const schema = schemaOf(message);
  const known = jsonNames(message);
  for (const k of Object.keys(obj)) {
    if (!known.has(k)) throw new Error(`protobuf: ${message} has no field ${JSON.stringify(k)} (at ${where})`);
  }
  const w = new Writer();
  for (const [numStr, f] of Object.entries(schema)) {
    const num = Number(numStr);
    if (f.inline) {
      const inner = f.type.slice('message:'.length);
      const sub: Record<string, unknown> = {};
      for (const n of jsonNames(inner)) if (Object.hasOwn(obj, n)) setOwn(sub, n, obj[n]);
      w.bytes(num, encodeMessage(sub, inner, where, depth + 1));
      continue;
    }
    if (!Object.hasOwn(obj, f.name)) continue;
    const v = obj[f.name];
    if (v === undefined) continue;
    const at = `${where}.${f.name}`;
    if (f.repeated) {
      if (v === null) continue;
      if (!Array.isArray(v)) throw new Error(`protobuf: ${at} must be an array, not ${typeName(v)}`);
      v.forEach((el, i) => encodeValue(w, num, f.type, el, `${at}[${i}]`, depth));
      continue;
    }
    if (f.type.startsWith('map<')) {
      if (v === null) continue;
      const m = asObject(v, at);
      for (const key of Object.keys(m).sort()) {
        const ew = new Writer();
        ew.string(1, key);
        encodeValue(ew, 2, f.type.slice('map<string,'.length, -1) as ProtoFieldType, m[key], `${at}[${key}]`, depth);
        w.bytes(num, ew.finish());
      }
      continue;
    }
    if (v === null && f.type !== 'time' && f.type !== 'json') continue;
    encodeValue(w, num, f.type, v, at, depth);
  }
  return w.finish();
}

function encodeValue(w: Writer, num: number, t: ProtoFieldType, v: unknown, at: string, depth: number): void {
  const bad = (want: string): Error => new Error(`protobuf: ${at} must be ${want}, not ${typeName(v)}`);
  switch (t) {
    case 'string':
      if (typeof v !== 'string') throw bad('a string');
      w.string(num, v);
      return;
    case 'int32':
    case 'int64':
      if (typeof v !== 'number' || !Number.isInteger(v)) throw bad('an integer');
      w.tag(num, WIRE_VARINT);
      w.varint(v);
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw bad('a boolean');
      w.tag(num, WIRE_VARINT);
      w.varint(v ? 1 : 0);
      return;
    case 'bytes':
      if (typeof v !== 'string') throw bad('a base64 string');
      w.bytes(num, Buffer.from(v, 'base64'));
      return;
    case 'intorstring': {
      const ew = new Writer();
      if (typeof v === 'number' && Number.isInteger(v)) {
        ew.tag(1, WIRE_VARINT); ew.varint(0);
        ew.tag(2, WIRE_VARINT); ew.varint(v);
        ew.string(3, '');
      } else if (typeof v === 'string') {
        ew.tag(1, WIRE_VARINT); ew.varint(1);
        ew.tag(2, WIRE_VARINT); ew.varint(0);
        ew.string(3, v);
      } else throw bad('an integer or a string');
      w.bytes(num, ew.finish());
      return;
    }
    case 'quantity': {
      if (typeof v !== 'string' && typeof v !== 'number') throw bad('a quantity string');
      const ew = new Writer();
      ew.string(1, String(v));
      w.bytes(num, ew.finish());
      return;
    }
    case 'time': {
      const ew = new Writer();
      if (v !== null) {
        if (typeof v !== 'string') throw bad('an RFC 3339 string or null');
        const ms = Date.parse(v);
        if (Number.isNaN(ms)) throw bad('an RFC 3339 string or null');
        ew.tag(1, WIRE_VARINT); ew.varint(Math.floor(ms / 1000));
        ew.tag(2, WIRE_VARINT); ew.varint(0);
      }
      w.bytes(num, ew.finish());
      return;
    }
    case 'json': {
      const ew = new Writer();
      if (v !== null) ew.bytes(1, Buffer.from(JSON.stringify(v), 'utf8'));
      w.bytes(num, ew.finish());
      return;
    }
    default:
      if (!t.startsWith('message:')) throw new Error(`protobuf: cannot encode ${t} at ${at}`);
      w.bytes(num, encodeMessage(asObject(v, at), t.slice('message:'.length), at, depth + 1));
  }
}

/**
 * Encodes a JSON object of a supported kind as a Kubernetes protobuf body (magic prefix and
 * runtime.Unknown envelope), the inverse of `decodeKubernetesProtobuf`. Fields the schema does not
 * know raise an Error. Zero scalars are written only when present in the object.
 */
export function encodeKubernetesProtobuf(obj: Record<string, unknown>): Buffer {
  const { apiVersion, kind, ...rest } = obj;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    throw new Error('protobuf: apiVersion and kind must be strings');
  }
  const message = rootFor(apiVersion, kind);
  if (!message) throw unsupported(apiVersion, kind);
  const raw = encodeMessage(rest, message, kind, 1);
  const tm = new Writer();
  tm.string(1, apiVersion);
  tm.string(2, kind);
  const u = new Writer();
  u.bytes(1, tm.finish());
  u.bytes(2, raw);
  u.string(3, '');
  u.string(4, '');
  return Buffer.concat([MAGIC, u.finish()]);
}
