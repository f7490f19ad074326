from clusterdns.cli import app

app()
