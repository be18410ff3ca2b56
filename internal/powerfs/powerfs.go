// Package powerfs is a test-only FUSE filesystem that simulates power loss: it keeps what was
// written but not yet made durable in memory, and a Cut returns only the durable state, which a
// new mount then serves. Production code must not import it.
//
// The durability model, deliberately stricter than most real filesystems' common case:
//
//   - File contents become durable only by fsync/fdatasync of that file. msync(MS_SYNC) of a
//     shared mapping reaches the filesystem as the mapping's dirty pages written back (WRITE)
//     followed by FSYNC, so Badger's memtable WAL (written through mmap, made durable by
//     msync in DB.Sync) is honoured the same way as write+fsync.
//   - Directory entries (create, rename, unlink) become durable when the directory is fsync'd;
//     fsync of a file also makes that file's own current name durable (as ext4 and xfs do for a
//     newly created file). A name created and never synced is gone after a Cut.
//   - The filesystem is one flat directory (Badger's layout); mkdir is refused.
//
// Everything lives in memory; nothing touches the disk.
package powerfs

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Image is the durable state of a filesystem: file name → contents.
type Image map[string]Contents

// Contents is a sparse file: its size and its non-zero pages (absent pages read as zeros), so
// Badger's large preallocated value log and memtable files cost only what is written.
type Contents struct {
	Size  int64
	Pages map[int64][]byte // page index → pageSize bytes
}

const pageSize = 4096

func (c Contents) clone() Contents {
	out := Contents{Size: c.Size, Pages: make(map[int64][]byte, len(c.Pages))}
	for i, pg := range c.Pages {
		out.Pages[i] = slices.Clone(pg)
	}
	return out
}

func (c *Contents) readAt(dest []byte, off int64) int {
	if off >= c.Size {
		return 0
	}
	n := int(min(int64(len(dest)), c.Size-off))
	for done := 0; done < n; {
		at := off + int64(done)
		idx, in := at/pageSize, int(at%pageSize)
		chunk := min(pageSize-in, n-done)
		if pg, ok := c.Pages[idx]; ok {
			copy(dest[done:done+chunk], pg[in:in+chunk])
		} else {
			clear(dest[done : done+chunk])
		}
		done += chunk
	}
	return n
}

func (c *Contents) writeAt(data []byte, off int64) {
	if c.Pages == nil {
		c.Pages = map[int64][]byte{}
	}
	for done := 0; done < len(data); {
		at := off + int64(done)
		idx, in := at/pageSize, int(at%pageSize)
		chunk := min(pageSize-in, len(data)-done)
		pg, ok := c.Pages[idx]
		if !ok {
			pg = make([]byte, pageSize)
			c.Pages[idx] = pg
		}
		copy(pg[in:in+chunk], data[done:done+chunk])
		done += chunk
	}
	c.Size = max(c.Size, off+int64(len(data)))
}

func (c *Contents) truncate(size int64) {
	if size < c.Size {
		for idx, pg := range c.Pages {
			switch start := idx * pageSize; {
			case start >= size:
				delete(c.Pages, idx)
			case start+pageSize > size:
				clear(pg[size-start:])
			}
		}
	}
	c.Size = size
}

// WriteTo writes the image as ordinary files into dir (an existing directory): the disk as it
// is when the power comes back.
func (img Image) WriteTo(dir string) error {
	for name, c := range img {
		if err := c.writeFile(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("write image file %s: %w", name, err)
		}
	}
	return nil
}

func (c Contents) writeFile(path string) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if err := f.Truncate(c.Size); err != nil {
		return err
	}
	for idx, pg := range c.Pages {
		n := min(int64(pageSize), c.Size-idx*pageSize)
		if _, err := f.WriteAt(pg[:n], idx*pageSize); err != nil {
			return err
		}
	}
	return nil
}

type file struct {
	ino     uint64
	data    Contents // what readers see now
	durable Contents // what survives a Cut
}

// FS is the shared state of one mounted filesystem.
type FS struct {
	mu      sync.Mutex
	nextIno uint64
	names   map[string]*file // current directory
	durable map[string]*file // directory as it survives a Cut
	syncs   int              // fsync calls seen (files and directory)
	writes  int              // write calls seen
}

// New starts a filesystem holding img, all of it durable.
func New(img Image) *FS {
	p := &FS{nextIno: 2, names: map[string]*file{}, durable: map[string]*file{}}
	for name, data := range img {
		f := &file{ino: p.nextIno, data: data.clone(), durable: data.clone()}
		p.nextIno++
		p.names[name] = f
		p.durable[name] = f
	}
	return p
}

// Cut simulates power loss: it returns what would be on the disk at this instant (the durable
// names with their durable contents). The filesystem keeps serving its callers; the image is
// independent of anything they do afterwards.
func (p *FS) Cut() Image {
	p.mu.Lock()
	defer p.mu.Unlock()
	img := Image{}
	for name, f := range p.durable {
		img[name] = f.durable.clone()
	}
	return img
}

// Stats returns the number of write and fsync calls the filesystem has served.
func (p *FS) Stats() (writes, syncs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writes, p.syncs
}

// Mount serves p at dir (an existing empty directory). It calls mount(2) directly, which needs
// root (CAP_SYS_ADMIN) and /dev/fuse; no fusermount helper is used. Unmount with the returned
// server's Unmount.
func Mount(dir string, p *FS) (*fuse.Server, error) {
	root := &dirNode{p: p}
	timeout := time.Duration(0) // the kernel asks every time: no stale names after unlink/rename
	srv, err := fs.Mount(dir, root, &fs.Options{
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true,
			FsName:            "powerfs",
			Name:              "powerfs",
			DisableXAttrs:     true,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mount powerfs at %q: %w", dir, err)
	}
	return srv, nil
}

type dirNode struct {
	fs.Inode
	p *FS
}

var (
	_ fs.NodeLookuper  = (*dirNode)(nil)
	_ fs.NodeCreater   = (*dirNode)(nil)
	_ fs.NodeUnlinker  = (*dirNode)(nil)
	_ fs.NodeRenamer   = (*dirNode)(nil)
	_ fs.NodeReaddirer = (*dirNode)(nil)
	_ fs.NodeFsyncer   = (*dirNode)(nil)
	_ fs.NodeGetattrer = (*dirNode)(nil)
	_ fs.NodeMkdirer   = (*dirNode)(nil)
)

func (d *dirNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o755
	out.Ino = 1
	return fs.OK
}

func (d *dirNode) node(ctx context.Context, f *file, out *fuse.EntryOut) *fs.Inode {
	out.Mode = syscall.S_IFREG | 0o644
	out.Ino = f.ino
	out.Size = uint64(f.data.Size)
	return d.NewInode(ctx, &fileNode{p: d.p, f: f}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: f.ino})
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	f, ok := d.p.names[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	return d.node(ctx, f, out), fs.OK
}

func (d *dirNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	f, ok := d.p.names[name]
	if ok && flags&syscall.O_EXCL != 0 {
		return nil, nil, 0, syscall.EEXIST
	}
	if !ok {
		f = &file{ino: d.p.nextIno}
		d.p.nextIno++
		d.p.names[name] = f
	}
	if flags&syscall.O_TRUNC != 0 {
		f.data.truncate(0)
	}
	return d.node(ctx, f, out), nil, 0, fs.OK
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	if _, ok := d.p.names[name]; !ok {
		return syscall.ENOENT
	}
	delete(d.p.names, name)
	return fs.OK
}

func (d *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	f, ok := d.p.names[name]
	if !ok {
		return syscall.ENOENT
	}
	delete(d.p.names, name)
	d.p.names[newName] = f
	return fs.OK
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	var es []fuse.DirEntry
	for _, name := range slices.Sorted(maps.Keys(d.p.names)) {
		es = append(es, fuse.DirEntry{Name: name, Mode: syscall.S_IFREG, Ino: d.p.names[name].ino})
	}
	return fs.NewListDirStream(es), fs.OK
}

// Fsync of the directory makes its current names durable.
func (d *dirNode) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	d.p.syncs++
	d.p.durable = maps.Clone(d.p.names)
	return fs.OK
}

type fileNode struct {
	fs.Inode
	p *FS
	f *file
}

var (
	_ fs.NodeOpener    = (*fileNode)(nil)
	_ fs.NodeReader    = (*fileNode)(nil)
	_ fs.NodeWriter    = (*fileNode)(nil)
	_ fs.NodeSetattrer = (*fileNode)(nil)
	_ fs.NodeGetattrer = (*fileNode)(nil)
	_ fs.NodeFsyncer   = (*fileNode)(nil)
	_ fs.NodeFlusher   = (*fileNode)(nil)
	_ fs.NodeAllocater = (*fileNode)(nil)
)

func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		n.p.mu.Lock()
		n.f.data.truncate(0)
		n.p.mu.Unlock()
	}
	return nil, 0, fs.OK
}

func (n *fileNode) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.p.mu.Lock()
	defer n.p.mu.Unlock()
	k := n.f.data.readAt(dest, off)
	return fuse.ReadResultData(dest[:k]), fs.OK
}

func (n *fileNode) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	n.p.mu.Lock()
	defer n.p.mu.Unlock()
	n.p.writes++
	n.f.data.writeAt(data, off)
	return uint32(len(data)), fs.OK
}

func (n *fileNode) Allocate(ctx context.Context, fh fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	return fs.OK
}

func (n *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.p.mu.Lock()
	defer n.p.mu.Unlock()
	out.Mode = syscall.S_IFREG | 0o644
	out.Ino = n.f.ino
	out.Size = uint64(n.f.data.Size)
	return fs.OK
}

func (n *fileNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.p.mu.Lock()
	defer n.p.mu.Unlock()
	if size, ok := in.GetSize(); ok {
		n.f.data.truncate(int64(size))
	}
	out.Mode = syscall.S_IFREG | 0o644
	out.Ino = n.f.ino
	out.Size = uint64(n.f.data.Size)
	return fs.OK
}

func (n *fileNode) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno { return fs.OK }

// Fsync (and fdatasync, and msync(MS_SYNC) of a shared mapping) makes the file's contents
// durable, and its current name(s).
func (n *fileNode) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	n.p.mu.Lock()
	defer n.p.mu.Unlock()
	n.p.syncs++
	n.f.durable = n.f.data.clone()
	for name, f := range n.p.names {
		if f == n.f {
			n.p.durable[name] = f
		}
	}
	return fs.OK
}
