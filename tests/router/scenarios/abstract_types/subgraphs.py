"""Interfaces and unions spread over subgraphs: type explosion, members only some subgraphs know."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.federation import Schema

MEDIA = {"m1": ("Book", "Dune", 412), "m2": ("Movie", "Alien", 117), "m3": ("Book", "Emma", 300)}


# -- media: the Media interface with Book and Movie; a SearchResult union -------------------------
@strawberry.interface
class Media:
    id: strawberry.ID
    title: str


@strawberry.federation.type(keys=["id"])
class Book(Media):
    pages: int

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Book:
        return _media(str(id))


@strawberry.federation.type(keys=["id"])
class Movie(Media):
    minutes: int

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Movie:
        return _media(str(id))


@strawberry.type
class Author:
    name: str


SearchResult = Annotated[Book | Movie | Author, strawberry.union("SearchResult")]


def _media(mid: str):
    kind, title, size = MEDIA[mid]
    return Book(id=mid, title=title, pages=size) if kind == "Book" else Movie(id=mid, title=title, minutes=size)


@strawberry.type
class MediaQuery:
    @strawberry.field
    def library(self) -> list[Media]:
        return [_media(m) for m in sorted(MEDIA)]

    @strawberry.field
    def search(self, text: str) -> list[SearchResult]:
        found: list = [_media(m) for m in sorted(MEDIA) if text.lower() in MEDIA[m][1].lower()]
        return [*found, Author(name=text.title())]


media = Schema(query=MediaQuery, types=[Book, Movie], federation_version="2.9")


# -- ratings: knows Book and Movie as entities, adds `stars`; only knows Book in its own union ------
@strawberry.federation.type(keys=["id"], name="Book")
class BookR:
    id: strawberry.ID

    @strawberry.field
    def stars(self) -> int:
        return 5 if self.id == "m1" else 3

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> BookR:
        return BookR(id=id)


@strawberry.federation.type(keys=["id"], name="Movie")
class MovieR:
    id: strawberry.ID

    @strawberry.field
    def stars(self) -> int:
        return 4

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> MovieR:
        return MovieR(id=id)


Pick = Annotated[BookR | MovieR, strawberry.union("Pick")]


@strawberry.type
class RatingsQuery:
    @strawberry.field
    def staff_picks(self) -> list[Pick]:
        return [BookR(id="m3"), MovieR(id="m2")]


ratings = Schema(query=RatingsQuery, types=[BookR, MovieR], federation_version="2.9")

SUBGRAPHS = {"media": media, "ratings": ratings}
