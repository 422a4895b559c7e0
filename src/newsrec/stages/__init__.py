"""The pipeline's stages and commands, one module per stage: `newsrec <stage>` (the CLI),
the DVC stage of that name (dvc.yaml), the Prefect task of that name (flows/) and the
artifact under data/<stage>/ or reports/<stage>.json all end in the function of that
name here. Each takes what it needs (params, paths, tool handles from newsrec.bootstrap),
does the stage's I/O around the pure core and returns a small typed result."""
