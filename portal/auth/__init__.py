"""The auth area: sign-in, two-factor codes, account links, sessions' cookies and throttling."""
