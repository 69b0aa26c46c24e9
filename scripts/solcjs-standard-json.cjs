#!/usr/bin/env node
// A `solc`-compatible executable backed by solc-js (npm `solc`, pinned in package.json), for
// py-solc-x's `solc_binary=` argument: native solc binaries cannot be downloaded on these
// machines, solc-js compiles offline and emits the same bytecode as native solc of the same
// version and settings.
//
//   solcjs-standard-json.cjs --version          prints "Version: <long version>"
//   solcjs-standard-json.cjs --standard-json    reads standard JSON input on stdin, writes output
//
// Imports resolve against the project root, then node_modules (as Hardhat resolves them), so
// source unit names and therefore metadata and bytecode match Hardhat's compilation.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = path.resolve(__dirname, "..");

function findImports(importPath) {
  for (const base of [root, path.join(root, "node_modules")]) {
    const candidate = path.resolve(base, importPath);
    if (!candidate.startsWith(base + path.sep)) continue; // no escaping the project
    if (fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
  }
  return { error: `File not found: ${importPath} (looked in the project and node_modules)` };
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else if (args.includes("--standard-json")) {
  const input = fs.readFileSync(0, "utf8");
  process.stdout.write(solc.compile(input, { import: findImports }));
} else {
  process.stderr.write("usage: solcjs-standard-json.cjs --version | --standard-json < input.json\n");
  process.exit(2);
}
