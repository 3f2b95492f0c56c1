package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs/ipfstest"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/solana/solanatest"
)

// BenchmarkGrantVerify is the job-login check of a running job with the
// document cache off, so that every Grant fetches and, unless skipped,
// verifies the document: verify vs skip is what IPFS_VERIFY costs a login
// whose document is not cached yet.
func BenchmarkGrantVerify(b *testing.B) {
	small := examples(b)["job"]
	large := []byte(`{"state":{"nosana/secrets":["pipeline1-ssh-key"]},"pad":"` + strings.Repeat("p", 900<<10) + `"}`)
	for _, doc := range []struct {
		name string
		body []byte
	}{{"small", small}, {"900KiB", large}} {
		for _, skip := range []bool{false, true} {
			name := doc.name + "/verify"
			if skip {
				name = doc.name + "/skip"
			}
			b.Run(name, func(b *testing.B) {
				rpc, gw := solanatest.NewServer(b), ipfstest.NewGateway(b)
				chain, err := solana.NewClient(solana.Config{RPCURL: rpc.URL, JobsProgram: jobsProgram}, nil)
				if err != nil {
					b.Fatal(err)
				}
				docs, err := ipfs.NewClient(ipfs.Config{Gateway: gw.URL, CacheSize: -1, SkipVerify: skip})
				if err != nil {
					b.Fatal(err)
				}
				v := &jobs.Verifier{Chain: chain, IPFS: docs, ValidFor: -1}
				rpc.PutJob(jobAddr, jobsProgram, solana.Job{IPFSJob: gw.Add(doc.body), Project: project, Node: node})
				rpc.PutRun(runAddr, jobsProgram, solana.Run{Job: jobAddr, Node: node, Payer: node, Time: 1700000050})
				b.SetBytes(int64(len(doc.body)))
				b.ResetTimer()
				for b.Loop() {
					if _, err := v.Grant(context.Background(), jobAddr, node); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
