// Hardhat 2 configuration. The compiler version and settings come from
// contracts/solc-settings.json, the same file the Python build (service/chain/compile.py) reads,
// so both compile the same sources into the same bytecode (checked by tests/contracts).
//
// Native solc cannot be downloaded on these machines, so the compiler is the pinned solc-js from
// node_modules (npm `solc`), handed to Hardhat by overriding TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD.
//
// Networks: `localhost` is the anvil that `govledger-chain up` starts; `remote` is any EVM JSON-RPC
// endpoint given by GOVLEDGER_RPC_URL (accounts from GOVLEDGER_DEPLOYER_KEY, if set).
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");
const solcConfig = require("./contracts/solc-settings.json");

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
    tests: "./tests/contracts",
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
