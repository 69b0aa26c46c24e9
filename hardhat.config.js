// Hardhat 2 configuration. The compiler version and settings come from
// contracts/solc-settings.json, the same file the Python build (service/chain/compile.py) reads,
// so both compile the same sources into the same bytecode (checked by tests/contracts).
//
// Native solc cannot be downloaded on these machines, so the compiler is the pinned solc-js from
// node_modules (npm `solc`), handed to Hardhat by overriding TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD.
//
//   npx hardhat compile   the contracts and mocks under contracts/ (not the forge tests)
//   npx hardhat test      the forge fuzz and invariant tests in contracts/test/ (`forge test`;
//                         `--grep <regex>` for `--match-test <regex>`; the Python suite runs
//                         with `bash scripts/test.sh`)
//
// Networks: `localhost` is the local anvil that `govledger up` (or `govledger chain up`) starts;
// `remote` is any EVM JSON-RPC endpoint given by GOVLEDGER_RPC_URL (accounts from
// GOVLEDGER_DEPLOYER_KEY, if set).
const path = require("path");
const { spawnSync } = require("child_process");
const { subtask, task } = require("hardhat/config");
const {
  TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD,
  TASK_COMPILE_SOLIDITY_GET_SOURCE_PATHS,
  TASK_TEST,
} = require("hardhat/builtin-tasks/task-names");
const solcConfig = require("./contracts/solc-settings.json");

// forge's tests live beside the contracts (contracts/test/) but are forge's to compile
const FORGE_TESTS = path.join(__dirname, "contracts", "test") + path.sep;

subtask(TASK_COMPILE_SOLIDITY_GET_SOURCE_PATHS, async (args, hre, runSuper) => {
  const paths = await runSuper(args);
  return paths.filter((p) => !p.startsWith(FORGE_TESTS));
});

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion !== solcConfig.compilerVersion) {
    return runSuper();
  }
  const solcjs = require("solc");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: args.solcVersion,
    longVersion: solcjs.version(),
  };
});

// `npx hardhat test --grep <regex>` runs only the forge tests whose names match
// (`forge test --match-test <regex>`); Hardhat's other test options do not apply to forge.
task(TASK_TEST, "Runs the forge fuzz and invariant tests in contracts/test/ (forge test)").setAction(
  async ({ grep }) => {
    const forge = path.join(__dirname, "node_modules", ".bin", "forge");
    const args = grep ? ["test", "--match-test", grep] : ["test"];
    const result = spawnSync(forge, args, { cwd: __dirname, stdio: "inherit" });
    if (result.error) {
      throw new Error(`cannot run ${forge} (${result.error.message}); run \`npm ci\` first`);
    }
    process.exitCode = result.status ?? 1;
  },
);

const remoteUrl = process.env.GOVLEDGER_RPC_URL;
const deployerKey = process.env.GOVLEDGER_DEPLOYER_KEY;

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: {
    version: solcConfig.compilerVersion,
    settings: solcConfig.settings,
  },
  paths: {
    sources: "./contracts",
    tests: "./contracts/test",
    cache: "./build/hardhat-cache",
    artifacts: "./build/hardhat-artifacts",
  },
  networks: {
    hardhat: { chainId: 31337 },
    localhost: { url: "http://127.0.0.1:8545", chainId: 31337 },
    ...(remoteUrl
      ? { remote: { url: remoteUrl, accounts: deployerKey ? [deployerKey] : "remote" } }
      : {}),
  },
};
