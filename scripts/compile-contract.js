// Compiles contracts/SoukAnchor.sol with solc-js (no compiler download) into
// contracts/SoukAnchor.json, or with --check fails if the committed artifact differs.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const solc = require(path.join(root, ".tools", "node_modules", "solc"));
const source = fs.readFileSync(path.join(root, "contracts", "SoukAnchor.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "SoukAnchor.sol": { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { SoukAnchor: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length > 0) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const contract = output.contracts["SoukAnchor.sol"].SoukAnchor;
const artifact = {
  contractName: "SoukAnchor",
  compiler: `solc ${solc.version()}`,
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
  deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
};
const text = JSON.stringify(artifact, null, 2) + "\n";
const target = path.join(root, "contracts", "SoukAnchor.json");
if (process.argv.includes("--check")) {
  const committed = fs.readFileSync(target, "utf8");
  if (committed !== text) {
    console.error("contracts/SoukAnchor.json differs from a fresh compile of SoukAnchor.sol;");
    console.error("run `node scripts/compile-contract.js` and commit the result");
    process.exit(1);
  }
  console.log("contracts/SoukAnchor.json matches a fresh compile");
} else {
  fs.writeFileSync(target, text);
  console.log(`wrote contracts/SoukAnchor.json (${artifact.compiler})`);
}
