package solvekit_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// walkFiles calls fn with the path of every file of the module, leaving
// out hidden folders, testdata and node_modules.
func walkFiles(fn func(path string) error) error {
	return filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		return fn(path)
	})
}

// TestExportedNamesDocumented fails for any exported name in the module's
// non-test Go files that has no doc comment, and any package without a
// package comment.
func TestExportedNamesDocumented(t *testing.T) {
	fset := token.NewFileSet()
	pkgDoc := map[string]bool{}
	var missing []string
	err := walkFiles(func(path string) error {
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if _, ok := pkgDoc[dir]; !ok {
			pkgDoc[dir] = false
		}
		if f.Doc != nil {
			pkgDoc[dir] = true
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && d.Doc == nil && exportedRecv(d) {
					missing = append(missing, fset.Position(d.Pos()).String()+" func "+d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && d.Doc == nil && s.Doc == nil {
							missing = append(missing, fset.Position(s.Pos()).String()+" type "+s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							// A doc on the group (const/var block) covers its members.
							if n.IsExported() && d.Doc == nil && s.Doc == nil && s.Comment == nil {
								missing = append(missing, fset.Position(n.Pos()).String()+" "+n.Name)
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, ok := range pkgDoc {
		if !ok {
			missing = append(missing, dir+": package comment")
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d exported names without doc comments:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}

// exportedRecv reports whether a method's receiver type is exported (or
// the func is not a method).
func exportedRecv(d *ast.FuncDecl) bool {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return true
	}
	t := d.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.IsExported()
		default:
			return true
		}
	}
}

// TestDocsKeepWorkErrors fails for documentation that drops the error of
// Service.Work: `go svc.Work(ctx)` or `_ = svc.Work(ctx)` in README.md or
// docs/*.md, in an Example function, or in a program under examples/. A
// reader copies these lines; Work fails when its queue server cannot start,
// and that must not pass unseen.
func TestDocsKeepWorkErrors(t *testing.T) {
	var bad []string
	mdDropped := regexp.MustCompile(`(\bgo\s+|_\s*=\s*)[A-Za-z_][A-Za-z0-9_]*\.Work\(`)
	fset := token.NewFileSet()
	err := walkFiles(func(path string) error {
		switch {
		case strings.HasSuffix(path, ".md"):
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(b), "\n") {
				if mdDropped.MatchString(line) {
					bad = append(bad, fmt.Sprintf("%s:%d: %s", path, i+1, strings.TrimSpace(line)))
				}
			}
		case strings.HasSuffix(path, ".go"):
			isExamples := strings.HasPrefix(filepath.ToSlash(path), "examples/")
			if !isExamples && !strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				fd, ok := decl.(*ast.FuncDecl)
				if !ok || fd.Body == nil || (!isExamples && !strings.HasPrefix(fd.Name.Name, "Example")) {
					continue
				}
				ast.Inspect(fd.Body, func(n ast.Node) bool {
					var call ast.Expr
					switch s := n.(type) {
					case *ast.GoStmt:
						call = s.Call
					case *ast.ExprStmt:
						call = s.X
					case *ast.AssignStmt:
						if len(s.Lhs) == 1 && len(s.Rhs) == 1 {
							if id, ok := s.Lhs[0].(*ast.Ident); ok && id.Name == "_" {
								call = s.Rhs[0]
							}
						}
					}
					if c, ok := call.(*ast.CallExpr); ok {
						if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Work" {
							bad = append(bad, fset.Position(c.Pos()).String()+" in "+fd.Name.Name)
						}
					}
					return true
				})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("%d doc examples drop Work's error (handle it, e.g. `go func() { if err := svc.Work(ctx); err != nil { log.Fatal(err) } }()`):\n%s",
			len(bad), strings.Join(bad, "\n"))
	}
}
