// Command clientonly is a program that imports only the client: its
// size is what the client adds to a binary (TestClientBinarySize).
package main

import (
	"context"
	"fmt"

	"github.com/solvekit/solvekit/transport/client"
)

func main() {
	h, err := client.New("http://127.0.0.1:1").Health(context.Background())
	fmt.Println(h, err)
}
