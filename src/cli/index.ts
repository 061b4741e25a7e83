// The CLI is built in a later change; see issue 5.
export {}
