from atlas_intoto.cli import run

run()
