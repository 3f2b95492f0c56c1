// Package jobstest is the fake chain the tests of job access run against: a
// Solana RPC node and an IPFS gateway holding running jobs.
package jobstest

import (
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs/ipfstest"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/solana/solanatest"
)

// DevnetProgram is the jobs program of SOLANA_NETWORK=devnet, the network
// Env points a server at.
var DevnetProgram = func() solana.PublicKey {
	n, err := solana.LookupNetwork(solana.Devnet)
	if err != nil {
		panic(err)
	}
	return n.JobsProgram
}()

// Chain is a fake Solana RPC node and IPFS gateway that a test server on
// devnet reads jobs from.
type Chain struct {
	RPC     *solanatest.Server
	Gateway *ipfstest.Gateway
}

// NewChain starts a fake RPC node and gateway, stopped when t ends.
func NewChain(t testing.TB) *Chain {
	return &Chain{RPC: solanatest.NewServer(t), Gateway: ipfstest.NewGateway(t)}
}

// Env is the server settings that point it at c.
func (c *Chain) Env() map[string]string {
	return map[string]string{"SOLANA_NETWORK": "devnet", "SOLANA_RPC_URL": c.RPC.URL, "IPFS_GATEWAY": c.Gateway.URL}
}

// Config is testserver.Config(uri) with c's Env.
func (c *Chain) Config(uri string) map[string]string {
	cfg := testserver.Config(uri)
	for k, v := range c.Env() {
		cfg[k] = v
	}
	return cfg
}

// PutRunning puts a queued job of the wallet project, with the document
// of digest doc and a timeout of timeout seconds, and a run account that
// names the wallet node; it returns the job's address.
func (c *Chain) PutRunning(doc [32]byte, project, node string, timeout int64) solana.PublicKey {
	job := solanatest.NewKey()
	c.RPC.PutJob(job, DevnetProgram, solana.Job{IPFSJob: doc, Project: solana.MustPublicKeyFromBase58(project), Timeout: timeout, HasTimeout: true})
	c.RPC.PutRun(solanatest.NewKey(), DevnetProgram, solana.Run{Job: job, Node: solana.MustPublicKeyFromBase58(node), Time: time.Now().Unix()})
	return job
}
