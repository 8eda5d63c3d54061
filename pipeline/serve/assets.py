"""What the app serves besides its routes: the pages' files, the Korean web font and the
offline API docs (Swagger UI from a package). Kept apart from app.py so the routes read at once.
"""

from __future__ import annotations

import functools
import importlib.util
import io
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def mount_assets(app: FastAPI) -> None:
    """/static, /fonts/NanumGothic.ttf, /docs and its /swagger files."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/fonts/NanumGothic.ttf", include_in_schema=False)
    async def font() -> Response:
        try:
            data = korean_font()
        except ImportError:  # a serve-only install (requirements-serve.txt): system fonts
            message = "the Korean web font needs koreanize-matplotlib and fonttools"
            return JSONResponse({"error": message}, status_code=404)
        headers = {"cache-control": "public, max-age=86400"}
        return Response(data, media_type="font/ttf", headers=headers)

    _mount_docs(app)


@functools.cache
def korean_font() -> bytes:
    """NanumGothic from koreanize-matplotlib (installed for the figures), made web-safe.

    Browsers' font sanitizer refuses the file as shipped (an empty VTT hinting table, TSI3);
    the TSI* tables only matter to font editors, so they are dropped (fontTools comes with
    matplotlib).
    """
    from fontTools.ttLib import TTFont

    spec = importlib.util.find_spec("koreanize_matplotlib")
    font = TTFont(Path(spec.origin).parent / "fonts" / "NanumGothic.ttf", lazy=True)
    for table in [t for t in font.keys() if t.startswith("TSI")]:
        del font[table]
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle package, so /docs works offline."""
    import swagger_ui_bundle

    app.mount("/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API docs",
            swagger_js_url="/swagger/swagger-ui-bundle.js",
            swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/swagger/favicon-32x32.png",
        )
