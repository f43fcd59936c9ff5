/**
 * The few WebAssembly declarations bookcrate uses. Node 20 has WebAssembly, but @types/node 20 does
 * not declare it and the DOM library would bring much else; these match the JS API.
 */
declare global {
  namespace WebAssembly {
    interface MemoryDescriptor {
      initial: number;
      maximum?: number;
      shared?: boolean;
    }
    class Memory {
      constructor(descriptor: MemoryDescriptor);
      readonly buffer: ArrayBuffer;
    }
    class Module {
      private readonly brand: 'WebAssembly.Module';
    }
    interface Instance {
      readonly exports: Record<string, unknown>;
    }
    function compile(bytes: Uint8Array): Promise<Module>;
    function instantiate(module: Module, imports?: Record<string, Record<string, unknown>>): Promise<Instance>;
  }
}
export {};
