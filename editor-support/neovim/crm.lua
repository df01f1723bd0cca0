-- crm.lua - Neovim set-up for .crm files with the built-in LSP client and `crm lsp`.
-- Put it in ~/.config/nvim/plugin/ (or require it from init.lua). Tested headless with Neovim 0.7.2
-- (Debian 12) by editor-support/test_editors.sh; uses vim.lsp.start on 0.8 and later.
vim.filetype.add({ extension = { crm = 'crm' } })

vim.api.nvim_create_autocmd('FileType', {
  pattern = 'crm',
  callback = function(args)
    vim.bo[args.buf].commentstring = '// %s'
    local name = vim.api.nvim_buf_get_name(args.buf)
    local config = {
      name = 'crm',
      cmd = { vim.env.CRM or 'crm', 'lsp' },  -- the crm executable: $CRM, else `crm` on PATH
      root_dir = vim.fs and vim.fs.dirname(vim.fs.find({ '.git' }, { upward = true, path = vim.fs.dirname(name) })[1] or name)
        or vim.fn.getcwd(),
    }
    if vim.lsp.start then
      vim.lsp.start(config)  -- Neovim 0.8 and later: reuses a running client for the same root
    else
      vim.lsp.buf_attach_client(args.buf, vim.lsp.start_client(config))  -- Neovim 0.7
    end
  end,
})
