import { readFileSync } from "node:fs";
import path from "node:path";
import { findSdkRoot } from "./cartridge-source.js";

/** The version of the installed package (package.json beside the SDK), for `cartridge --version`. */
export function packageVersion(): string {
  const file = path.join(findSdkRoot(), "package.json");
  const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
  if (typeof parsed === "object" && parsed !== null && "version" in parsed) {
    const { version } = parsed;
    if (typeof version === "string") return version;
  }
  throw new Error(`${file} has no version`);
}
