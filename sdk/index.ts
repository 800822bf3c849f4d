// `import { ... } from "cartridge/sdk"`: the AssemblyScript SDK (sdk/assembly). AssemblyScript's
// package lookup finds this file as node_modules/cartridge/sdk/index.ts; `cartridge build`
// resolves the same name to the SDK of the host doing the build, installed or not.
export * from "./assembly/index";
