// Test only, injected by the browser tests through CDP (never shipped): a
// Wallet Standard wallet that signs with a known ed25519 keypair, with or
// without the solana:signIn feature, or one that refuses every request.
(() => {
  const cfg = __CONFIG__;
  const calls = [];
  window.__testWallet = { calls };
  let keyP;
  const key = () => (keyP ||= crypto.subtle.importKey('jwk', cfg.jwk, { name: 'Ed25519' }, false, ['sign']));
  const sign = async (bytes) => new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, await key(), bytes));
  const refuse = () => { if (cfg.refuse) throw new Error('User rejected the request.'); };
  const chains = ['solana:mainnet', 'solana:devnet'];
  const account = Object.freeze({
    address: cfg.address,
    publicKey: new Uint8Array(cfg.publicKey),
    chains,
    features: cfg.signIn ? ['solana:signMessage', 'solana:signIn'] : ['solana:signMessage'],
  });
  // The message text as @solana/wallet-standard-util's createSignInMessageText writes it.
  const signInText = (i) => {
    let m = `${i.domain} wants you to sign in with your Solana account:\n${i.address || cfg.address}`;
    if (i.statement) m += `\n\n${i.statement}`;
    const f = [];
    if (i.uri) f.push(`URI: ${i.uri}`);
    if (i.version) f.push(`Version: ${i.version}`);
    if (i.chainId) f.push(`Chain ID: ${i.chainId}`);
    if (i.nonce) f.push(`Nonce: ${i.nonce}`);
    if (i.issuedAt) f.push(`Issued At: ${i.issuedAt}`);
    if (i.expirationTime) f.push(`Expiration Time: ${i.expirationTime}`);
    if (i.notBefore) f.push(`Not Before: ${i.notBefore}`);
    if (i.requestId) f.push(`Request ID: ${i.requestId}`);
    if (f.length) m += `\n\n${f.join('\n')}`;
    return m;
  };
  const features = {
    'standard:connect': { version: '1.0.0', connect: async () => { calls.push({ connect: true }); refuse(); return { accounts: [account] }; } },
    'standard:disconnect': { version: '1.0.0', disconnect: async () => {} },
    'standard:events': { version: '1.0.0', on: () => () => {} },
    'solana:signMessage': {
      version: '1.0.0',
      signMessage: async (...inputs) => {
        calls.push({ signMessage: inputs.map((i) => new TextDecoder().decode(i.message)) });
        refuse();
        return Promise.all(inputs.map(async (i) => ({ signedMessage: i.message, signature: await sign(i.message) })));
      },
    },
  };
  if (cfg.signIn) {
    features['solana:signIn'] = {
      version: '1.0.0',
      signIn: async (...inputs) => {
        calls.push({ signIn: inputs });
        refuse();
        return Promise.all(inputs.map(async (i) => {
          const msg = new TextEncoder().encode(signInText(i));
          return { account, signedMessage: msg, signature: await sign(msg) };
        }));
      },
    };
  }
  const wallet = Object.freeze({
    version: '1.0.0',
    name: cfg.name,
    icon: 'data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAzMiAzMiI+PHJlY3Qgd2lkdGg9IjMyIiBoZWlnaHQ9IjMyIiByeD0iOCIgZmlsbD0iIzY0NGRmZiIvPjwvc3ZnPg==',
    chains,
    features,
    accounts: [],
  });
  // Registration as @wallet-standard/wallet's registerWallet does it.
  const callback = ({ register }) => register(wallet);
  window.dispatchEvent(new CustomEvent('wallet-standard:register-wallet', { detail: callback }));
  window.addEventListener('wallet-standard:app-ready', ({ detail: api }) => callback(api));
})();
