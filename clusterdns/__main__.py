from clusterdns.cli.app import app

app()
