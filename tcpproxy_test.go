package authgin

import (
	"net"
	"sync"
	"testing"
)

// tcpProxy forwards TCP connections from a loopback port to target. It can
// cut every connection and refuse new ones (a server that is down), hang
// (a network that silently drops everything) and be restored: a database
// that goes away and comes back, without stopping a server.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  proxyMode
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

type proxyMode int

const (
	proxyUp     proxyMode = iota
	proxyRefuse           // close every connection at once
	proxyHang             // keep connections open, deliver nothing
)

// startTCPProxy listens on 127.0.0.1 and forwards to target until the
// test ends.
func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.set(proxyRefuse)
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every connection and refuses new ones.
func (p *tcpProxy) Cut() { p.set(proxyRefuse) }

// Hang keeps connections open but delivers no byte either way, and holds
// new connections the same way.
func (p *tcpProxy) Hang() { p.set(proxyHang) }

// Restore closes the connections left from a cut or hang (their protocol
// state is lost) and forwards new connections again.
func (p *tcpProxy) Restore() { p.set(proxyUp) }

func (p *tcpProxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	if m != proxyHang {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func (p *tcpProxy) current() proxyMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.forward(c)
		}()
	}
}

// track registers c, or reports false when the proxy refuses connections.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == proxyRefuse {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

func (p *tcpProxy) forward(client net.Conn) {
	if !p.track(client) {
		client.Close()
		return
	}
	if p.current() == proxyHang {
		// Hold the connection, dropping what it sends, until it is cut
		// or restored.
		buf := make([]byte, 512)
		for {
			if _, err := client.Read(buf); err != nil {
				p.untrack(client)
				return
			}
		}
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(server) {
		p.untrack(client)
		if server != nil {
			server.Close()
		}
		return
	}
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && p.current() != proxyHang {
				if _, err := dst.Write(buf[:n]); err != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		p.untrack(dst, src)
	}
	wg.Add(2)
	go pipe(server, client)
	go pipe(client, server)
	wg.Wait()
}
