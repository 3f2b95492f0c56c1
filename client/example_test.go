package client_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/client/clienttest"
)

// A program stores and reads secrets with its Solana key. The client signs
// in by itself on the first request, with a Sign-In With Solana message
// bound to the endpoint.
func Example() {
	srv := clienttest.Start() // in a real program: the server's URL
	defer srv.Close()

	// Any ed25519 key works; *keypair.Keypair from keypair.Load is one.
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	c, err := client.New(client.Config{Endpoint: srv.URL, Signer: key})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	if err := c.SetStrings(ctx, map[string]string{"DB_PASSWORD": "hunter2"}, "prod/"); err != nil {
		log.Fatal(err)
	}
	pw, err := c.GetString(ctx, "prod/DB_PASSWORD")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pw)

	_, err = c.Get(ctx, "prod/missing")
	fmt.Println(client.IsNotFound(err))
	// Output:
	// hunter2
	// true
}

// A node reads the secrets a job grants it with a job-scoped sign-in.
func ExampleConfig_job() {
	srv := clienttest.Start()
	defer srv.Close()
	node := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	srv.Put("2cDhka7i433URLVwvR285KVDWe1m4787jhcLW64hUX4V", map[string]any{"API_KEY": "k-123", "OTHER": "not granted"})
	srv.Grant("7DFKaE1mjYGSR4vfYgeKQb5goUaonEceZ9BA9uZopHwL", clienttest.Grant{
		Node: "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS", UserAddress: "2cDhka7i433URLVwvR285KVDWe1m4787jhcLW64hUX4V", Secrets: []string{"API_KEY"}})

	c, err := client.New(client.Config{Endpoint: srv.URL, Signer: node, Job: "7DFKaE1mjYGSR4vfYgeKQb5goUaonEceZ9BA9uZopHwL"})
	if err != nil {
		log.Fatal(err)
	}
	secrets, err := c.List(context.Background(), "")
	if err != nil {
		log.Fatal(err)
	}
	for k, v := range secrets {
		fmt.Println(k, string(v))
	}
	// Output:
	// API_KEY "k-123"
}
