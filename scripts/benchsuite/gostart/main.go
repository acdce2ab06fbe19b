// Command gostart prints one line and exits: the floor of a Go command's
// start, against which the benchmark suite measures paracfs's (case log).
package main

import "os"

func main() { os.Stdout.WriteString("gostart\n") }
