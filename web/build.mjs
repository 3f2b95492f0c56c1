// Builds the console's bundle into server/ui/assets, which is committed so
// that `go run . serve` needs no JavaScript toolchain. CI rebuilds it from
// package-lock.json and checks that the bytes are the same.
import * as esbuild from 'esbuild';

await esbuild.build({
  entryPoints: ['src/main.js', 'src/main.css'],
  outdir: '../server/ui/assets',
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
  charset: 'utf8',
  legalComments: 'eof',
  sourcemap: false,
  logLevel: 'warning',
});
