// seccomp_go.go - a Go client and server for rpc_seccomp_go.sh: Go makes its
// socket calls itself (no libc), so only `tapnet run`'s seccomp supervisor
// can put them on tapnet.
//
//	seccomp_go client ADDR:PORT   a line out, its echo back; prints both addresses
//	seccomp_go server ADDR:PORT N accepts N connections, answers each line in upper case
//	seccomp_go reset ADDR:PORT    reads a byte, sends one, then reads until the server's
//	                              reset: prints "ECONNRESET" or "EOF" (or the error)
//	seccomp_go timeout ADDR:PORT FILE
//	                              TCP_USER_TIMEOUT 1 s, reads the server's byte, prints
//	                              "connected"; once FILE exists (the peer silenced) sends
//	                              and reads: "read ETIMEDOUT" on Linux, "read EOF" if the
//	                              error is lost
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func die(what string, err error) {
	fmt.Printf("FAIL %s: %v\n", what, err)
	os.Exit(1)
}

func client(addr string) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		die("dial", err)
	}
	fmt.Printf("local %s remote %s\n", c.LocalAddr(), c.RemoteAddr())
	if _, err := c.Write([]byte("hello go\n")); err != nil {
		die("write", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		die("read", err)
	}
	fmt.Printf("echo %s", line)
	c.Close()
}

func reset(addr string) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		die("dial", err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
		die("the server's byte", err)
	}
	if _, err := c.Write([]byte("k")); err != nil {
		die("write", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(b)
	fmt.Println(readErr(err))
	c.Close()
}

// readErr names what a read that should fail answered.
func readErr(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "ECONNRESET"
	case errors.Is(err, syscall.ETIMEDOUT):
		return "ETIMEDOUT"
	case err == io.EOF:
		return "EOF"
	}
	return fmt.Sprintf("%v", err)
}

func timeout(addr, file string) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		die("dial", err)
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		die("SyscallConn", err)
	}
	var serr error
	const tcpUserTimeout = 0x12 // TCP_USER_TIMEOUT
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, 1000)
	}); err != nil {
		die("SyscallConn.Control", err)
	}
	if serr != nil {
		die("setsockopt TCP_USER_TIMEOUT", serr)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
		die("the server's byte", err)
	}
	fmt.Println("connected")
	for {
		if _, err := os.Stat(file); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.Write([]byte("unanswered")); err != nil {
		die("write", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(b)
	fmt.Printf("read %s\n", readErr(err))
	c.Close()
}

func server(addr string, n int) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		die("listen", err)
	}
	fmt.Printf("listening %s\n", l.Addr())
	for i := 0; i < n; i++ {
		c, err := l.Accept()
		if err != nil {
			die("accept", err)
		}
		go func(c net.Conn) {
			defer c.Close()
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				fmt.Printf("FAIL read: %v\n", err)
				return
			}
			c.Write([]byte(strings.ToUpper(line)))
			fmt.Printf("peer %s\n", c.RemoteAddr())
		}(c)
	}
	time.Sleep(500 * time.Millisecond) // the last answers go out
}

func main() {
	switch {
	case len(os.Args) == 3 && os.Args[1] == "client":
		client(os.Args[2])
	case len(os.Args) == 3 && os.Args[1] == "reset":
		reset(os.Args[2])
	case len(os.Args) == 4 && os.Args[1] == "timeout":
		timeout(os.Args[2], os.Args[3])
	case len(os.Args) == 4 && os.Args[1] == "server":
		n, _ := strconv.Atoi(os.Args[3])
		server(os.Args[2], n)
	default:
		fmt.Fprintln(os.Stderr, "usage: seccomp_go client ADDR:PORT | server ADDR:PORT N | reset ADDR:PORT | "+
			"timeout ADDR:PORT FILE")
		os.Exit(2)
	}
}
