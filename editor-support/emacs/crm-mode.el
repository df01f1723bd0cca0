;;; crm-mode.el --- .crm campaign strategy files with eglot and `crm lsp'  -*- lexical-binding: t -*-
;; Load it from your init file: (load "/path/to/editor-support/emacs/crm-mode.el").
;; Emacs 29 and later have eglot built in; on Emacs 28 install it first (Debian 12: elpa-eglot).
;; Tested in batch mode with Emacs 28.2 + eglot 1.9 (Debian 12) by editor-support/test_editors.sh.
(require 'eglot)

(defvar crm-mode-syntax-table
  (let ((st (make-syntax-table)))
    (modify-syntax-entry ?_ "_" st)
    (modify-syntax-entry ?\" "\"" st)
    ;; `//' and `/* */' comments; `#' line comments too (style b).
    (modify-syntax-entry ?/ ". 124" st)
    (modify-syntax-entry ?* ". 23b" st)
    (modify-syntax-entry ?# "< b" st)
    (modify-syntax-entry ?\n ">" st)
    st))

(defconst crm-font-lock-keywords
  `((,(regexp-opt '("module" "import" "as" "zone" "profile" "event" "enum" "const" "segment" "fn"
                    "resource" "strategy" "policy" "for" "business") 'symbols) . font-lock-keyword-face)
    (,(regexp-opt '("who" "when" "where" "what" "how much" "split" "priority" "exclusive") 'symbols)
     . font-lock-builtin-face)
    (,(regexp-opt '("and" "or" "not" "in" "between" "if" "then" "else" "on" "at" "every" "grant" "send"
                    "via" "code" "budget" "stock" "per" "user" "campaign" "pacing" "control" "salt")
                  'symbols) . font-lock-keyword-face)
    ("\\_<[0-9]+\\(?:\\.[0-9]+\\)?[ \t]*\\(?:[A-Z][A-Z][A-Z]\\|days?\\|weeks?\\|hours?\\|minutes?\\|seconds?\\|%\\)"
     . font-lock-constant-face)
    ("\\_<\\(true\\|false\\)\\_>" . font-lock-constant-face))
  "A small highlighting for crm; the full one is the TextMate grammar (editor-support/textmate).")

(define-derived-mode crm-mode prog-mode "crm"
  "Major mode for crm campaign strategy files."
  :syntax-table crm-mode-syntax-table
  (setq-local comment-start "// ")
  (setq-local comment-start-skip "\\(//+\\|#+\\|/\\*+\\)\\s *")
  (setq-local font-lock-defaults '(crm-font-lock-keywords)))

(add-to-list 'auto-mode-alist '("\\.crm\\'" . crm-mode))
;; The crm executable: $CRM when set, else `crm' on PATH.
(add-to-list 'eglot-server-programs `(crm-mode . (,(or (getenv "CRM") "crm") "lsp")))
(add-hook 'crm-mode-hook #'eglot-ensure)

(provide 'crm-mode)
;;; crm-mode.el ends here
