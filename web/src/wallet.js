// Sign-in through the Wallet Standard: every installed wallet registers
// itself with @wallet-standard/app (the wallet-standard:register-wallet and
// wallet-standard:app-ready window events), whatever its brand.
import { getWallets } from '@wallet-standard/app';
import bs58 from 'bs58';

const CONNECT = 'standard:connect';
const SIGN_IN = 'solana:signIn';
const SIGN_MESSAGE = 'solana:signMessage';

/** A wallet the console can sign in with. */
export function usable(w) {
  const f = w.features || {};
  return (w.chains || []).some((c) => c.startsWith('solana:')) &&
    (SIGN_IN in f || (SIGN_MESSAGE in f && CONNECT in f));
}

/** Calls fn(wallets) now and whenever a wallet registers or leaves. */
export function watch(fn) {
  const { get, on } = getWallets();
  const emit = () => fn(get().filter(usable));
  on('register', emit);
  on('unregister', emit);
  emit();
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 16 random letters and digits, as the CLI makes them. */
export function nonce() {
  let out = '';
  while (out.length < 16) {
    for (const x of crypto.getRandomValues(new Uint8Array(32))) {
      // 248 = 4·62: rejecting larger bytes keeps the letters uniform.
      if (x < 248 && out.length < 16) out += ALPHABET[x % 62];
    }
  }
  return out;
}

/** The SIWS text the CLI signs (pkg/auth/siws.go, SIWS.String). */
export function messageText(f) {
  return `${f.domain} wants you to sign in with your Solana account:\n${f.address}\n\n` +
    `${f.statement}\n\nURI: ${f.uri}\nVersion: ${f.version}\nNonce: ${f.nonce}\nIssued At: ${f.issuedAt}`;
}

/** A wallet that declined: the user said no, or it failed. */
export class WalletRefused extends Error {}

/**
 * Asks wallet to sign in for audience {domain, uri}: with solana:signIn when
 * it has it, else connect + solana:signMessage over messageText. Answers
 * what POST /login takes.
 */
export async function signIn(wallet, audience, statement) {
  const fields = {
    domain: audience.domain,
    statement,
    uri: audience.uri,
    version: '1',
    nonce: nonce(),
    issuedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  const dec = new TextDecoder();
  try {
    if (SIGN_IN in wallet.features) {
      const [out] = await wallet.features[SIGN_IN].signIn(fields);
      return {
        address: out.account.address,
        signature: bs58.encode(out.signature),
        message: dec.decode(out.signedMessage),
      };
    }
    const { accounts } = await wallet.features[CONNECT].connect();
    const account = accounts.find((a) => (a.chains || []).some((c) => c.startsWith('solana:'))) || accounts[0];
    if (!account) throw new Error('it shared no account');
    const message = messageText({ ...fields, address: account.address });
    const [out] = await wallet.features[SIGN_MESSAGE].signMessage({ account, message: new TextEncoder().encode(message) });
    return {
      address: account.address,
      signature: bs58.encode(out.signature),
      message: dec.decode(out.signedMessage || new TextEncoder().encode(message)),
    };
  } catch (e) {
    throw new WalletRefused(`${wallet.name} did not sign in: ${String((e && e.message) || e).replace(/\.$/, "")}.`);
  }
}
