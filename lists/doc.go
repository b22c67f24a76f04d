// Package lists is the allow and deny list files: parsing, editing in
// place (keeping the operator's comments and notes), CSV import and
// export, and watching the files for changes.
package lists
