// @engram/memory: the MemoryPolicy contract (v1), memory state helpers and the FIFO policy of Transformer-XL.
export type * from './policy.js';
export { MemoryError, MemoryPolicyError, MemorySerializationError, MemoryStateError } from './errors.js';
export {
  appendToMemory,
  deserializeLayers,
  disposeState,
  disposeStateExcept,
  emptyLayerMemory,
  keepState,
  serializeLayers,
  smallestPosition,
  stateTensors,
} from './state.js';
export type { AppendResult, DeserializeOptions } from './state.js';
export { createFifoPolicy, fifoPolicyDescriptor } from './fifo.js';
export type { FifoPolicyOptions } from './fifo.js';
export { defineMemoryPolicy } from './define.js';
export type { LayerWrite, MemoryPolicyDefinition, PolicyBuildContext, PolicyErrorDetails, PolicyKit } from './define.js';
export { splitVariableName, uniqueVariableName, uniqueVariableScope } from './variables.js';
export { defineMemoryPolicyDescriptor } from './descriptor.js';
export type { MemoryPolicyDescriptor, PolicyCreateContext } from './descriptor.js';
