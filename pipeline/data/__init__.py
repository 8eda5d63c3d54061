"""The data stages, Excel to split files: ingest -> prepare -> split (``make data``).

    python -m pipeline.data.ingest  --config configs/default.yaml   # workbooks -> sentences
    python -m pipeline.data.prepare --config configs/default.yaml   # clean, label
    python -m pipeline.data.split   --config configs/default.yaml   # stratified 6:2:2

The readers of sheets and files they share with the tasks are pipeline/tables/.
"""
