import { dirname } from "node:path";
import type { Server } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { ENGINE_PROTO_FILE, findProtoRoot } from "./proto-files.js";

/**
 * Adds gRPC server reflection (v1 and v1alpha) describing the Engine and health services, and the
 * services of `protoFiles` (paths inside proto/, those the server also serves), so that grpcurl,
 * Postman and other generic clients can list and call them without the .proto.
 */
export function addReflection(server: Server, protoFiles: readonly string[] = []): void {
  // health.proto lives at <root>/health/v1/health.proto inside grpc-health-check.
  const healthRoot = dirname(dirname(dirname(healthProtoPath)));
  const definition = loadSync([ENGINE_PROTO_FILE, ...protoFiles, "health/v1/health.proto"], {
    includeDirs: [findProtoRoot(), healthRoot],
    keepCase: true,
    longs: String,
    defaults: true,
  });
  new ReflectionService(definition).addToServer(server);
}
