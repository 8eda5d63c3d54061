"""The text-generation task's pieces (the task object: pipeline/tasks/text_generation.py).

``tiny.py`` the offline tiny GPT-2, ``data.py`` LM sequences and perplexity, ``train.py`` the
fine-tuning loop, ``sampling.py`` decoding settings and seeded generation, ``evaluate.py`` and
``report.py`` the evaluate stage, ``serve.py`` the API and page, ``cli.py`` the generate
command. None of them imports pipeline.tasks (the stages call them through the task object).
"""
